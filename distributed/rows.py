"""The row of a parameter-server cell, made from its workers' rows.

train_samples is the sum over workers; epoch times are the slowest worker's (the one with the
largest median epoch); samples_per_s = total train samples / that median (dist_sync steps in
lockstep, so the slowest worker sets the pace); train loss/accuracy are sample-weighted over
workers; validation is rank 0's; peak_rss_mb is the largest worker's. Added columns: workers,
servers, kvstore, per_worker ('0:123.4;1:120.1', each worker's samples/s, by rank) and
param_check ('identical' or 'DIFFERENT (...)': the workers' parameter digests compared).
"""


def aggregate(rows, servers):
    """One row for the group from the workers' rows (see the module doc)."""
    rows = sorted(rows, key=lambda r: r["rank"])
    first = rows[0]
    slowest = max(rows, key=lambda r: r["epoch_s_median"])
    total = sum(r["train_samples"] for r in rows)
    samples_per_s = total / slowest["epoch_s_median"]
    digests = {r["param_sha256"] for r in rows}
    if len(digests) == 1:
        param_check = "identical"
    else:
        param_check = "DIFFERENT (" + "; ".join(
            f"{r['rank']}:sum={r['param_sum']:.9g},sha256={r['param_sha256'][:12]}"
            for r in rows) + ")"
    row = {k: v for k, v in first.items() if k not in ("rank", "param_sha256", "param_sum")}
    row.update({
        "train_samples": total,
        "warmup_s": slowest["warmup_s"],
        "epoch_s_median": slowest["epoch_s_median"],
        "epoch_s_min": slowest["epoch_s_min"],
        "epoch_s_max": slowest["epoch_s_max"],
        "samples_per_s": round(samples_per_s, 2),
        "train_loss": round(sum(r["train_loss"] * r["train_samples"] for r in rows) / total, 5),
        "train_accuracy": round(sum(r["train_accuracy"] * r["train_samples"] for r in rows)
                                / total, 5),
        "gflops_per_s": round(first["flops_per_sample"] * samples_per_s / 1e9, 3),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
        "workers": len(rows),
        "servers": servers,
        "kvstore": first["kvstore"],
        "per_worker": ";".join(f"{r['rank']}:{r['samples_per_s']:.1f}" for r in rows),
        "param_check": param_check,
    })
    return row
