"""Every member started by MXNet's launcher watches its group itself, and stops when the group
can't go on: ps-lite would wait forever for a peer whose network is gone."""
import os
import socket
import sys
import threading
import time
from pathlib import Path

from shim import exits

PEER_TIMEOUT_S = 15.0   # a peer that acknowledges nothing we sent for this long is unreachable
HEARTBEAT_S = 2         # ps-lite's PS_HEARTBEAT_INTERVAL: every node then talks to the scheduler
TCP_ESTABLISHED, TCP_SYN_SENT = "01", "02"   # /proc/net/tcp states


def watch_group(peer_timeout_s=PEER_TIMEOUT_S):
    """Stop this process (exit status 1, one 'cell failed:' line) when the group can't go on.

    ps-lite waits forever for a peer that is gone: a worker whose host lost its network waits in
    a pull, a server for that worker's push, everyone for a scheduler that never answers. So every
    member watches (in a thread: the main one is blocked inside ps-lite) for
    - a peer that acknowledges nothing for peer_timeout_s: one of this process's TCP connections
      (or connection attempts) keeps retransmitting, as the kernel's own table shows;
      PS_HEARTBEAT_INTERVAL makes every node send to the scheduler every HEARTBEAT_S, so even an
      idle one notices;
    - its parent gone (the ssh session or the local driver that started it).
    Called by harness.py when DMLC_ROLE is set, before mxnet is imported."""
    os.environ.setdefault("PS_HEARTBEAT_INTERVAL", str(HEARTBEAT_S))
    parent = os.getppid()
    role = os.environ.get("DMLC_ROLE")
    where = os.environ.get("DMLC_NODE_HOST") or os.environ.get("DMLC_PS_ROOT_URI", "")

    def watch():
        silent_since = {}     # peer -> when it was first seen silent
        answered_polls = {}   # peer -> polls in a row that did not see it silent
        while True:
            time.sleep(1.0)
            now = time.monotonic()
            if os.getppid() != parent:
                leave(f"the process that started this {role} on {where} is gone")
            silent = silent_peers()
            for peer in silent:
                silent_since.setdefault(peer, now)
                answered_polls[peer] = 0
            for peer in list(silent_since):
                if peer not in silent:   # a connection attempt that failed and is not yet
                    answered_polls[peer] += 1   # retried shows nothing: a few polls, then reset
                    if answered_polls[peer] >= 3:
                        del silent_since[peer], answered_polls[peer]
                elif now - silent_since[peer] >= peer_timeout_s:
                    leave(f"{peer} has answered nothing for {peer_timeout_s:g} s "
                          f"(seen by the {role} on {where})")

    threading.Thread(target=watch, name="group-watchdog", daemon=True).start()


def leave(reason):
    print(f"{exits.FAILED} {reason}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(1)


def silent_peers(pid="self"):
    """'host:port' of the peers this process is trying to reach in vain: one of its TCP sockets
    to them is still connecting, or is retransmitting (/proc/net/tcp's retrnsmt: retransmission
    timeouts since the last acknowledgement)."""
    mine = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    return {e["remote"] for e in tcp_table(pid) if e["inode"] in mine and (
        e["state"] == TCP_SYN_SENT or (e["state"] == TCP_ESTABLISHED and e["retransmits"]))}


def tcp_table(pid="self"):
    """The IPv4 TCP sockets of pid's network namespace, from /proc/PID/net/tcp."""
    rows = []
    lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    for line in lines:
        f = line.split()
        rows.append({"local": _address(f[1]), "remote": _address(f[2]), "state": f[3],
                     "retransmits": int(f[6], 16), "inode": f[9]})
    return rows


def _address(hex_address):
    """'0100A8C0:1F90' -> '192.168.0.1:8080' (the kernel writes the address in host order)."""
    host, port = hex_address.split(":")
    packed = bytes.fromhex(host)
    if sys.byteorder == "little":
        packed = packed[::-1]
    return f"{socket.inet_ntoa(packed)}:{int(port, 16)}"
