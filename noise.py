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
- cpu_mhz: the mean CPU clock at the start (/proc/cpuinfo, else cpufreq).

`flags` raises the per-cell flags: epoch times that vary (CV >= 10% over the timed epochs, as
pyperf warns) and other processes busy for >= 10% of a core. Flagged rows are kept and shown.
"""
import os
import resource
import statistics
import time
from pathlib import Path

EPOCH_CV_LIMIT = 0.10       # coefficient of variation of the timed epochs within a cell
OTHER_CORES_LIMIT = 0.10    # other processes' CPU time / the cell's wall time
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


class Probe:
    """Start before a cell's process, `stop()` once it has been reaped: the noise columns."""

    def __init__(self):
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
        record = {"load_avg_1m": self.load, "cpu_mhz": self.mhz,
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
