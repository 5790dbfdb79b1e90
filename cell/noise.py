"""What else the machine was doing while a cell ran: the noise record of every runs.csv row.

bench.py starts a `Probe` just before a cell's process and stops it when the process has been
reaped, so the cell's own CPU time is in RUSAGE_CHILDREN (its process, threads and the children
it waited for). Linux only; elsewhere the columns stay blank.

- load_avg_1m: the 1-minute load average when the cell started;
- other_cpu_s: CPU time the rest of the machine used during the cell: the busy time of all
  CPUs in /proc/stat (user, nice, system, irq, softirq) minus the CPU time of the cell's
  processes and of bench.py itself;
- steal_s: time the hypervisor gave this VM's CPUs to someone else (/proc/stat steal);
- ctx_switches: the cell's voluntary + involuntary context switches;
- cpu_mhz: the mean CPU clock at the start (/proc/cpuinfo, else cpufreq);
- canary_ms: how fast the machine ran short parallel work just before the cell (`canary_ms`).

The canary is there for a state of the machine that none of the others sees. On the 2-core VMs
this project measures on, the machine spends minutes at a time in a state where work that hands
off between the two CPUs at a fine grain runs slower: numpy's 2-thread small GEMMs 1.6x, the
Keras CNN-LSTM's thousands of small operators a step 1.33x, Gluon's fused RNN 1.13x, while one
thread alone, or both CPUs working independently, are as fast as ever. Load, steal, switches and
clock read the same in both states. Since the two arms slow by different factors, pairing cannot
cancel it: a round in that state has a higher Keras/Gluon ratio. The canary reads it (16 ms
against 26 ms there); `canary_flags` marks the cells whose canary is off their sweep's median.

`flags` raises the per-cell flags: epoch times that vary (CV >= 10% over the timed epochs, as
pyperf warns) and other processes busy for >= 10% of a core. Flagged rows are kept and shown.
"""
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

EPOCH_CV_LIMIT = 0.10       # coefficient of variation of the timed epochs within a cell
OTHER_CORES_LIMIT = 0.10    # other processes' CPU time / the cell's wall time
CANARY_LIMIT = 0.10         # a cell's canary this far from its sweep's median: another machine state
BUSY_FIELDS = (0, 1, 2, 5, 6)   # user, nice, system, irq, softirq in /proc/stat's 'cpu' line
STEAL_FIELD = 7


def _proc_stat():
    """(busy seconds, steal seconds) of all CPUs since boot, or None where unreadable."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        ticks = [int(v) for v in fields]
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    steal = ticks[STEAL_FIELD] if len(ticks) > STEAL_FIELD else 0
    return sum(ticks[i] for i in BUSY_FIELDS) / hz, steal / hz


def _own_cpu():
    """(CPU seconds, context switches) of this process plus its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return cpu, children.ru_nvcsw + children.ru_nivcsw


def cpu_mhz():
    """The mean CPU clock in MHz, or None where neither /proc/cpuinfo nor cpufreq says."""
    try:
        values = [float(line.split(":", 1)[1]) for line in
                  Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("cpu MHz")]
    except (OSError, ValueError):
        values = []
    if not values:
        try:
            values = [int(p.read_text()) / 1000 for p in
                      Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_cur_freq")]
        except (OSError, ValueError):
            values = []
    return round(sum(values) / len(values), 1) if values else None


def _canary_child():
    """The canary's work; run by `canary_ms` in a fresh process, it prints milliseconds."""
    import numpy as np

    rng = np.random.default_rng(0)
    # One LSTM step's GEMM at batch 128: numpy's BLAS splits it over its two threads, so each
    # call is a short parallel region, as the models' small operators are.
    a = rng.random((128, 100), dtype=np.float32)
    w = rng.random((100, 400), dtype=np.float32)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(300):
            a @ w
        best = min(best, time.perf_counter() - started)
    print(f"{best * 1e3:.2f}")


def canary_ms():
    """Milliseconds for 300 small GEMMs on two BLAS threads (best of 5), or None if it failed.

    It runs in a process of its own (about 0.2 s on an idle 2-core machine, seconds on a busy
    one, whose contention it is timing too), so that no BLAS thread of it is left
    spinning in bench.py when the cell starts; two threads whatever the sweep's settings, so
    that every reading of a sweep times the same work.
    """
    threads = str(min(2, os.cpu_count() or 1))
    env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads,
               MKL_NUM_THREADS=threads)
    try:
        done = subprocess.run([sys.executable, __file__, "--canary"], capture_output=True,
                              text=True, timeout=120, env=env)
        return round(float(done.stdout), 2)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


class Probe:
    """Start before a cell's process, `stop()` once it has been reaped: the noise columns."""

    def __init__(self):
        # First, so that neither the canary's CPU time nor its wall time is the cell's.
        self.canary = canary_ms()
        try:
            self.load = round(os.getloadavg()[0], 2)
        except OSError:
            self.load = None
        self.mhz = cpu_mhz()
        self.stat = _proc_stat()
        self.own, self.switches = _own_cpu()
        self.started = time.monotonic()

    def stop(self):
        wall = time.monotonic() - self.started
        own, switches = _own_cpu()
        record = {"load_avg_1m": self.load, "cpu_mhz": self.mhz, "canary_ms": self.canary,
                  "ctx_switches": switches - self.switches, "wall_s": wall}
        stat = _proc_stat()
        if self.stat and stat:
            busy = stat[0] - self.stat[0]
            # /proc/stat counts in clock ticks: never report less than nothing.
            record["other_cpu_s"] = round(max(0.0, busy - (own - self.own)), 2)
            record["steal_s"] = round(stat[1] - self.stat[1], 2)
        return record


def epoch_cv(seconds):
    """Coefficient of variation of a cell's timed epochs; None below two epochs."""
    if not seconds or len(seconds) < 2:
        return None
    return statistics.stdev(seconds) / statistics.mean(seconds)


def flags(record, timed_epochs):
    """'' or the '; '-joined reasons to doubt a cell's times (see the module doc)."""
    found = []
    cv = epoch_cv(timed_epochs)
    if cv is not None and cv >= EPOCH_CV_LIMIT:
        found.append(f"epoch-time CV {cv:.0%} >= {EPOCH_CV_LIMIT:.0%}")
    other, wall = record.get("other_cpu_s"), record.get("wall_s")
    if other is not None and wall and other / wall >= OTHER_CORES_LIMIT:
        found.append(f"other processes used {other / wall:.2f} cores >= {OTHER_CORES_LIMIT:.2f}")
    return "; ".join(found)


def canary_flags(rows):
    """{id(row): flag} for the rows whose canary_ms is CANARY_LIMIT or more off the median of
    the rows given (one sweep): cells measured in another state of the machine. Kept, shown."""
    readings = [r["canary_ms"] for r in rows if r.get("canary_ms")]
    if len(readings) < 3:
        return {}
    typical = statistics.median(readings)
    found = {}
    for r in rows:
        if r.get("canary_ms") and abs(r["canary_ms"] / typical - 1) >= CANARY_LIMIT:
            found[id(r)] = (f"canary {r['canary_ms']:.1f} ms, {r['canary_ms'] / typical - 1:+.0%} "
                            f"from the sweep's median {typical:.1f} ms")
    return found


if __name__ == "__main__" and sys.argv[1:] == ["--canary"]:
    _canary_child()
