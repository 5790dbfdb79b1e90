"""The worker side of a parameter-server group, used inside harness.py's process by the training
loops (gluon_models.train, keras_models.train and graph): joining the group, this worker's shard
of every epoch, and the digest of its parameters that the row compares across workers.

Training semantics, identical to one process training the same global batches:
- cell['batch_size'] is the GLOBAL batch over all workers and devices; a worker's batch is
  batch_size / workers. Worker r trains order[r::workers], cut to whole global batches: at most
  batch_size - 1 samples of an epoch are not trained, because every worker must make the same
  number of pushes (or dist_sync waits forever) and the servers' optimizer keeps the 1/batch
  rescaling it was sent at the first step (Gluon's Trainer refuses another batch size on a dist
  kvstore). Global batch k is then exactly the samples of one process's batch k, so only the
  order of summation differs.
- dist_sync sums the gradients of all workers on the servers, which also run the optimizer
  (MXNet's default for dist kvstores, update_on_kvstore): Gluon's Trainer.step gets the global
  batch, so the servers' optimizer rescales by 1 / global batch.
- initial weights: rank 0's; kvstore.init on a dist kvstore stores rank 0's value, and Gluon's
  Trainer (and Module) pull it back to every worker before the first step.
"""
import atexit
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

import shim

SYNC_KVSTORES = ("dist_sync", "dist_device_sync")
RANK_FILE_ENV = "KERAS_MXNET_BENCH_RANK_FILE"   # where a worker writes its ps-lite rank


class Worker:
    """This process's membership of a parameter-server group (DMLC_* from the environment)."""

    def __init__(self, kvstore, batch_size):
        if kvstore not in SYNC_KVSTORES:
            raise ValueError(f"kvstore {kvstore!r} is not supported; use one of "
                             f"{', '.join(SYNC_KVSTORES)}")
        self.mx = mx = shim.import_mxnet()
        self.kvstore = mx.kv.create(kvstore)   # blocks until the whole group has registered
        self.rank, self.workers = self.kvstore.rank, self.kvstore.num_workers
        if batch_size % self.workers:
            raise ValueError(f"global batch {batch_size} does not split over {self.workers} "
                             f"workers")
        self.batch_size = batch_size
        rank_file = os.environ.get(RANK_FILE_ENV)
        if rank_file:
            Path(rank_file).write_text(str(self.rank))
        atexit.register(self._at_exit)

    def finish(self, arrays):
        """The worker's record columns (rank, digest of `arrays`, its parameters); then leave the
        group: free the kvstore, which finalizes ps-lite, a barrier of all nodes, after which
        the scheduler and servers exit. Called once training (and validation) is done. Freed
        here rather than left to garbage collection: Keras keeps the kvstore referenced from
        module globals, and a worker exiting with ps-lite still running aborts ('terminate
        called without an active exception') and leaves the scheduler and servers waiting."""
        mx = self.mx
        columns = {"kvstore": self.kvstore.type, "workers": self.workers, "rank": self.rank,
                   **param_digest(arrays)}
        mx.nd.waitall()
        mx.base.check_call(mx.base._LIB.MXKVStoreFree(self.kvstore.handle))
        self.kvstore.handle = None   # KVStore.__del__ then frees nothing
        return columns

    def _at_exit(self):
        """A worker that leaves without finishing (an exception in training) exits at once:
        finalizing ps-lite would wait forever for the workers still training."""
        if self.kvstore.handle is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)

    def shard_size(self, n):
        """Samples this worker trains per epoch: its share of the whole global batches."""
        size = shard_size(n, self.workers, self.batch_size)
        if not size:
            raise ValueError(f"{n} training samples make no whole global batch of "
                             f"{self.batch_size}")
        return size

    def sharded(self, order):
        """`order` (epoch -> permutation) restricted to this worker's shard."""
        return lambda epoch: shard(order(epoch), self.rank, self.workers, self.batch_size)


def shard_size(n, workers, batch_size):
    return n // batch_size * (batch_size // workers)


def shard(index, rank, workers, batch_size):
    """Worker `rank`'s part of an epoch's order: every workers-th sample from the rank-th, cut to
    whole global batches. Its k-th batch of batch_size / workers samples and the other workers'
    k-th batches together are exactly the k-th global batch of `index`."""
    return index[rank::workers][:shard_size(len(index), workers, batch_size)]


def param_digest(arrays):
    """sha256 of the parameters' float32 bytes, in the given order, and their float64 sum."""
    digest = hashlib.sha256()
    total = 0.0
    for a in arrays:
        a = np.ascontiguousarray(a, dtype=np.float32)
        digest.update(a.tobytes())
        total += float(a.sum(dtype=np.float64))
    return {"param_sha256": digest.hexdigest(), "param_sum": total}
