"""The MPI communicator: ``init``, ``rank``, ``world_size``, ``is_main``, ``barrier``, reductions, abort.

minigrad does not speak any network protocol of its own: every collective here is one MPI call
through ``mpi4py`` (``pip install "minigrad[dist]"`` brings mpi4py and the ``mpich`` wheel, whose
``mpiexec`` lands in the virtual environment's ``bin/``). ``mpi4py`` is imported only by
``init()``, so the core install never needs MPI.

Before ``init()`` (or without MPI) the process is alone: ``rank()`` is 0, ``world_size()`` is 1,
and the collectives return their input.
"""

from __future__ import annotations

import contextlib
import sys
import time

import numpy as np

__all__ = ["DistributedError", "init", "is_initialized", "rank", "world_size", "local_size", "is_main",
           "barrier", "allreduce_sum", "allgather", "broadcast_object", "gather_object", "abort",
           "abort_on_exception"]

_comm = None

INSTALL_HINT = 'pip install "minigrad[dist]" (mpi4py and mpich)'


class DistributedError(ValueError):
    """Distributed training cannot start (MPI missing, a single process, an uneven batch)."""


def init(comm=None):
    """Start MPI (if needed) and make ``comm`` (default ``MPI.COMM_WORLD``) the communicator.

    Args:
        comm: an ``mpi4py`` communicator to use instead of ``COMM_WORLD``.

    Returns:
        The communicator.

    Raises:
        DistributedError: mpi4py is not installed, or its MPI library cannot be loaded.
    """
    global _comm
    if comm is None and _comm is not None:
        return _comm
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise DistributedError(f"distributed: MPI is not available ({e}); install it with {INSTALL_HINT}") from None
    except RuntimeError as e:  # mpi4py installed, but no MPI library behind it
        raise DistributedError(f"distributed: mpi4py cannot load an MPI library ({e}); install it with "
                               f"{INSTALL_HINT}") from None
    _comm = comm if comm is not None else MPI.COMM_WORLD
    return _comm


def is_initialized() -> bool:
    return _comm is not None


def rank() -> int:
    """This process's rank (0 before ``init``)."""
    return 0 if _comm is None else _comm.Get_rank()


def world_size() -> int:
    """The number of processes (1 before ``init``)."""
    return 1 if _comm is None else _comm.Get_size()


def local_size() -> int:
    """The number of processes on this host (they share its cores)."""
    if _comm is None:
        return 1
    from mpi4py import MPI

    node = _comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return node.Get_size()
    finally:
        node.Free()


def is_main() -> bool:
    """True on rank 0, the process that prints and writes files."""
    return rank() == 0


def barrier() -> None:
    """Wait until every process gets here."""
    if _comm is not None:
        _comm.Barrier()


def allreduce_sum(array) -> np.ndarray:
    """The element-wise sum of ``array`` over all processes (a new array, same dtype and shape)."""
    array = np.ascontiguousarray(array)
    if _comm is None or world_size() == 1:
        return array.copy()
    out = np.empty_like(array)
    _comm.Allreduce(array, out)
    return out


def allgather(array) -> np.ndarray:
    """Every process's ``array`` stacked: shape ``(world_size,) + array.shape``."""
    array = np.ascontiguousarray(array)
    out = np.empty((world_size(),) + array.shape, array.dtype)
    if _comm is None or world_size() == 1:
        out[0] = array
    else:
        _comm.Allgather(array, out)
    return out


def broadcast_object(obj, root: int = 0):
    """Rank ``root``'s ``obj`` (any picklable value) on every process."""
    return obj if _comm is None else _comm.bcast(obj, root=root)


def gather_object(obj, root: int = 0):
    """A list of every process's ``obj`` on rank ``root``; None elsewhere."""
    return [obj] if _comm is None else _comm.gather(obj, root=root)


def abort(code: int = 1) -> None:
    """End every process of the job now with exit code ``code`` (``MPI_Abort``)."""
    sys.stdout.flush()
    sys.stderr.flush()
    if _comm is not None and world_size() > 1:
        # MPI_Abort kills the launcher's forwarding of this process's output too; a moment's
        # pause lets the one-line message just written reach the user's terminal first.
        time.sleep(0.3)
        _comm.Abort(int(code))
    raise SystemExit(code)


@contextlib.contextmanager
def abort_on_exception(describe=None, collective=(), grace: float = 1.0):
    """Turn an exception on one rank into the end of the whole job, never a hang.

    The other ranks may be waiting for this one inside a collective; exiting alone would leave
    them there forever (MPICH's ``mpiexec`` does not end a job when one process exits non-zero).
    So the exception is reported in one line on stderr and ``MPI_Abort`` ends every process;
    ``mpiexec`` then exits with the code.

    Args:
        describe: ``describe(exc) -> (message, code)``; default: the exception's type and text, 1.
        collective: exception types that every rank raises at the same point (decided by a
            collective, like an agreed interrupt): re-raised, so that each rank exits normally.
        grace: seconds a rank other than 0 waits before reporting and aborting. An error that
            every rank hits (a bad option) is then reported once, by rank 0, whose abort ends the
            others during their wait; an error of one rank alone is still reported by that rank.
    """
    try:
        yield
    except BaseException as e:  # noqa: BLE001 - anything escaping a rank must end the job
        if world_size() <= 1 or isinstance(e, collective) or (isinstance(e, SystemExit) and e.code in (0, None)):
            raise
        message, code = describe(e) if describe is not None else (f"{type(e).__name__}: {e}", 1)
        if not is_main():
            time.sleep(grace)
            message = f"rank {rank()} of {world_size()}: {message}"
        print(f"error: {message}", file=sys.stderr, flush=True)
        abort(code)
