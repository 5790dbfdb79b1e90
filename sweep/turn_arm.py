"""One arm's cell process under turns, as the driver (sweep/turns.py) sees it: the process, the
two pipes of cell/turns.py's protocol, its log and its result file.

Reading waits in select(2) with the round's deadline, so a hung arm is found and a dead one is
seen at once: its end of the report pipe closes when it exits, however it exits.
"""
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

from cell.turns import TURNS_VARIABLE
from shim import exits


class ArmFailed(Exception):
    """This arm's process ended, hung or broke the protocol: the configuration's round ends."""

    def __init__(self, arm, reason):
        super().__init__(f"{arm.name}: {reason}")
        self.arm, self.reason = arm, reason


class ArmProcess:
    """A started cell process; `folder` gets its cell.log and result.json."""

    def __init__(self, name, argv, env, folder, cwd=None, echo=False):
        self.name, self.folder = name, Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log_path, self.result_path = self.folder / "cell.log", self.folder / "result.json"
        go_read, go_write = os.pipe()
        report_read, report_write = os.pipe()
        self.log = open(self.log_path, "wb")
        try:
            # pass_fds: only these two pipes reach the child (every other arm's stay here)
            self.process = subprocess.Popen(
                argv(self.result_path), cwd=cwd, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE if echo else self.log, pass_fds=(go_read, report_write),
                env={**env, TURNS_VARIABLE: f"{go_read},{report_write}"})
        except BaseException:
            for fd in (go_read, go_write, report_read, report_write):
                os.close(fd)
            self.log.close()
            raise
        # Our copies of the child's ends closed: its exit is then the end of the report pipe.
        os.close(go_read)
        os.close(report_write)
        self._go, self._reports = go_write, report_read
        self._buffer, self._lines, self._ended = b"", [], False
        self.relay = None
        if echo:   # --verbose: its stderr to the log and to ours as it comes
            self.relay = threading.Thread(target=_relay, args=(self.process.stderr, self.log),
                                          daemon=True)
            self.relay.start()

    @property
    def pid(self):
        return self.process.pid

    def give_turn(self, epoch):
        try:
            os.write(self._go, f"go {epoch}\n".encode())
        except BrokenPipeError:
            raise ArmFailed(self, self.failure_reason(time.monotonic() + 5)) from None

    def expect(self, word, epoch, deadline):
        """Wait for the line 'WORD EPOCH ...'; returns its further fields."""
        line = self.next_line(deadline)
        if line is None:
            raise ArmFailed(self, self.failure_reason(deadline))
        fields = line.split()
        if fields[:2] != [word, str(epoch)]:
            self.kill()
            raise ArmFailed(self, f"turns protocol: expected '{word} {epoch}', got {line!r}")
        return fields[2:]

    def next_line(self, deadline):
        """The arm's next line, None once its pipe has ended (the process is gone)."""
        while not self._lines:
            if self._ended:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise ArmFailed(self, f"timed out after {self.timeout_s:.0f} s")
            ready, _, _ = select.select([self._reports], [], [], left)
            if ready:
                chunk = os.read(self._reports, 4096)
                self._ended = not chunk
                *whole, self._buffer = (self._buffer + chunk).split(b"\n")
                self._lines.extend(part.decode(errors="replace") for part in whole)
        return self._lines.pop(0)

    timeout_s = 0.0   # the round's limit, named in a timeout's reason (set by the driver)

    def finish(self, deadline):
        """After its last turn: the process validates, writes its result and exits; returns
        the result's columns."""
        if self.next_line(deadline) is not None:
            self.kill()
            raise ArmFailed(self, "turns protocol: a line after the last epoch")
        code = self.wait(deadline)
        if code == 0 and self.result_path.exists():
            return json.loads(self.result_path.read_text())
        raise ArmFailed(self, self.failure_reason(deadline))

    def wait(self, deadline):
        try:
            return self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            raise ArmFailed(self, f"timed out after {self.timeout_s:.0f} s") from None

    def failure_reason(self, deadline):
        """One line on why the process ended early (shim/exits.py, as of a failed cell)."""
        try:
            code = self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            return "its turns pipe closed, the process did not exit"
        self.close()
        text = self.log_path.read_bytes()[-16384:].decode(errors="replace")
        return exits.explain(code, text.replace("\r", "\n").splitlines())

    def cpu_seconds(self):
        """CPU time of the process, all its threads (/proc/PID/stat utime + stime); None once
        it is gone or outside Linux."""
        try:
            text = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return None
        fields = text[text.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self):
        return self.process.poll() is None

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def close(self):
        """Our ends of its pipes and its log (after it exited)."""
        for fd in (self._go, self._reports):
            try:
                os.close(fd)
            except OSError:
                pass
        self._go = self._reports = -1
        self._ended = True
        if self.relay:
            self.relay.join(timeout=5)
        self.log.close()


def _relay(stream, log):
    for chunk in iter(lambda: stream.read1(4096), b""):
        log.write(chunk)
        sys.stderr.buffer.write(chunk)
        sys.stderr.buffer.flush()
