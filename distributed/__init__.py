"""One cell on MXNet's own parameter server: kvstore 'dist_sync' (ps-lite), on this machine or
across hosts (docs/distributed.md).

    row = distributed.run_cell(cell, workers=2, servers=1, timeout_s=600)        # local group
    row = distributed.run_launched(cell, hosts_file, host_ip, 2, 1, 600)         # across hosts
    python -m distributed CELL_JSON --workers 2 --servers 1   # prints the row (see __main__)

A module per job:
  worker     inside a worker's process: joining the group, its shard, its parameters' digest
  watchdog   inside every member a launch started: stop when a peer or the launcher is gone
  rows       the group's row from its workers' rows
  local      a group of local processes: start, supervise, stop (run_cell, DistributedError)
  hosts      the multi-host recipe, MXNet's launcher over ssh (launch_command, run_launched)
  rehearsal  hosts made of network namespaces on this machine, to try the recipe
             (`make rehearse-hosts`; not imported here: it is a program of its own)
"""
from .hosts import run_launched
from .local import DistributedError, run_cell
from .watchdog import watch_group
from .worker import Worker

__all__ = ["DistributedError", "Worker", "run_cell", "run_launched", "watch_group"]
