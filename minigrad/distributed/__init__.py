"""Data-parallel training over MPI processes and hosts (``pip install "minigrad[dist]"``).

Every process (rank) holds the whole model and trains on its own share of each batch; the
gradients are averaged with MPI allreduce before every step, so all ranks keep identical
weights. The communication is MPI's (``mpi4py`` over MPICH or any other MPI), not ours.

    mpiexec -n 2 minigrad train lenet --distributed

or from Python (run the script with ``mpiexec -n 2 python script.py``)::

    import minigrad.distributed as dist
    dist.init()
    model = build_model()                      # any init: rank 0's is broadcast
    dist.broadcast_parameters(model)
    opt = dist.DistributedOptimizer(mg.optim.SGD(model.parameters(), lr=0.1))
    loader = DataLoader(ds, batch_size=32, sampler=dist.DistributedSampler(ds, seed=0))
    for epoch in range(epochs):
        for x, y in loader:                    # the loader calls sampler.set_epoch(epoch)
            opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()

Gradient averaging is an optimizer wrapper (Horovod style); ``optimizer.py`` says why.
"""

from .broadcast import broadcast_buffers, broadcast_parameters, broadcast_state, broadcast_tensors
from .comm import (DistributedError, abort, abort_on_exception, allgather, allreduce_sum, barrier, broadcast_object,
                   gather_object, init, is_initialized, is_main, local_size, rank, world_size)
from .context import DistributedContext, LocalContext
from .optimizer import DEFAULT_BUCKET_MB, DistributedOptimizer, GradientBuckets
from .sampler import DistributedSampler
from .sync_batchnorm import SyncBatchNorm, convert_sync_batchnorm

__all__ = ["init", "is_initialized", "rank", "world_size", "local_size", "is_main", "barrier", "allreduce_sum",
           "allgather", "broadcast_object", "gather_object", "abort", "abort_on_exception",
           "DistributedError", "broadcast_parameters", "broadcast_buffers", "broadcast_tensors", "broadcast_state",
           "DistributedOptimizer", "GradientBuckets", "DEFAULT_BUCKET_MB", "DistributedSampler", "SyncBatchNorm",
           "convert_sync_batchnorm", "DistributedContext", "LocalContext"]
