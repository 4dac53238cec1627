"""Make every rank hold rank 0's model and optimizer: ``broadcast_parameters``, ``broadcast_buffers``,
``broadcast_state``.

Tensors are packed per dtype into one flat buffer and sent with one ``MPI_Bcast`` each, so a
ResNet's hundred small tensors cost one message, not a hundred.
"""

from __future__ import annotations

import numpy as np

from . import comm

__all__ = ["broadcast_parameters", "broadcast_buffers", "broadcast_tensors", "broadcast_state"]


def host_array(t) -> np.ndarray:
    """A tensor's values as a host NumPy array (the array itself on the CPU, a copy from a GPU)."""
    return t.numpy()


def set_values(t, values: np.ndarray) -> None:
    """Overwrite tensor ``t``'s values in place with ``values`` (same shape), on its own device."""
    if t.device == "cpu":
        t.data[...] = values
    else:
        t.data[...] = t._backend().from_numpy(np.ascontiguousarray(values, dtype=t.dtype))


def broadcast_tensors(tensors, root: int = 0) -> None:
    """Overwrite ``tensors`` (the same list, same shapes, on every rank) with rank ``root``'s values.

    Args:
        tensors: a list of ``Tensor`` objects, in the same order on every rank.
        root: the rank whose values win.
    """
    tensors = list(tensors)
    if comm.world_size() == 1 or not tensors:
        return
    by_dtype = {}
    for t in tensors:
        by_dtype.setdefault(np.dtype(t.dtype), []).append(t)
    for dtype, group in by_dtype.items():
        flat = np.empty(sum(t.size for t in group), dtype)
        if comm.rank() == root:
            offset = 0
            for t in group:
                flat[offset:offset + t.size] = host_array(t).ravel()
                offset += t.size
        comm.init().Bcast(flat, root=root)
        if comm.rank() != root:
            offset = 0
            for t in group:
                set_values(t, flat[offset:offset + t.size].reshape(t.shape))
                offset += t.size


def broadcast_parameters(module, root: int = 0) -> None:
    """Give every rank rank ``root``'s parameters and buffers (BatchNorm's running statistics).

    Call it once after building the model (each rank may have initialised it differently) and
    after loading a checkpoint on rank ``root`` only.
    """
    broadcast_tensors([p for _, p in module.named_parameters()], root)
    broadcast_buffers(module, root)


def broadcast_buffers(module, root: int = 0) -> None:
    """Give every rank rank ``root``'s buffers (running statistics, ``num_batches_tracked``).

    With per-rank BatchNorm the running statistics drift apart (each rank sees other images);
    like PyTorch's DDP (``broadcast_buffers=True``), the trainer calls this before every forward
    pass, so evaluation and checkpoints use rank 0's statistics on every rank.
    """
    broadcast_tensors([b for _, b in module.named_buffers() if b is not None], root)


def broadcast_state(optimizer, root: int = 0) -> None:
    """Give every rank rank ``root``'s optimizer state (momentum, Adam's moments, step counts, lr).

    Needed when only rank ``root`` loaded a checkpoint; ranks that built the same optimizer from
    the same parameters then continue exactly where ``root`` is.
    """
    if comm.world_size() == 1:
        return
    state = comm.broadcast_object(optimizer.state_dict() if comm.rank() == root else None, root)
    if comm.rank() != root:
        optimizer.load_state_dict(state)
