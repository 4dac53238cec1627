"""``mg.config``: the engine's switches and tunables in one object, with thread-local overrides.

    >>> import minigrad as mg
    >>> mg.config.chunk_bytes                      # read anywhere, cheaply
    16777216
    >>> with mg.config.using(save_columns=True):   # this thread, for the block
    ...     loss = step(model, batch)
    >>> mg.config.set(direct_conv=False)           # the process default, for every thread

Reading an option returns this thread's override if a ``using`` block set one, else the
process default (Chainer's ``using_config`` pattern). ``using`` blocks nest, restore the
previous values on exit (also when the block raises) and are invisible to other threads; a
thread started inside a block sees the process defaults. ``set`` changes a default for all
threads that do not override it. Values are checked: an unknown name or a bad value is a
``ValueError`` naming the option.

Options (name, default, what reads it):

- ``save_columns`` (False): conv2d keeps its im2row matrix for the backward instead of
  recomputing it from the input (``backends/cpu/conv_plan.py``; KH*KW times the input's memory).
- ``chunk_bytes`` (16 MiB): im2row matrices are built per chunk of images of about this many
  bytes, so that they stay in cache, and the strips per chunk of half as many
  (``backends/cpu/conv_plan.py``).
- ``channels_last_min`` (32): on the CPU a convolution result with at least this many channels
  stays stored channels-last, and layers with fewer channels may take the direct kernels
  (``backends/cpu/conv_plan.py``).
- ``direct_conv`` (True): stride-1 layers with few channels use the direct kernels instead of
  im2row + GEMM (``backends/cpu/conv_plan.py``; the op is ``ops/conv_direct.py``).
- ``strip_conv`` (True): stride-1 layers with many channels use the strip lowering and
  accumulating GEMMs instead of im2row (``backends/cpu/strips.py``; the op is ``ops/conv_strips.py``).
- ``tiled_conv`` (True): float32 layers with many channels and rows of 16 outputs or more (8 if strided) run on
  register tiles over the zero-padded image where the CPU has AVX-512, strided ones too
  (``backends/cpu/tiled_conv.py``; the op is ``ops/conv_tiled.py``).
- ``shift_conv`` (True): stride-1 layers with many channels on images too small for strips use one
  accumulating GEMM per kernel tap instead of im2row (``backends/cpu/shifts.py``; the op is
  ``ops/conv_shifts.py``).
- ``serial_below`` (32768): parallel CPU kernels touching fewer elements run on one thread
  (``backends/cpu/threads.py``, ``serial_when_small``).
- ``blas_serial_below`` (50,000,000): GEMMs of fewer floating-point operations run on one
  OpenBLAS thread (``backends/cpu/gemm.py``).
- ``cpu_caching`` (True, or ``$MINIGRAD_CPU_CACHING != "0"``): large CPU arrays come from the
  caching allocator (``backends/cpu/allocator.py``).
- ``cpu_free_max_bytes`` (32 MiB): when a request misses, the CPU pool forgets free blocks of
  other sizes until it holds at most this many bytes beyond the largest total its arrays
  have taken at once (``backends/cpu/allocator.py``).
- ``cuda_caching`` (True, or ``$MINIGRAD_CUDA_CACHING != "0"``): device arrays come from the
  caching allocator (``backends/cuda/allocator.py``).

The environment variables are read once, when minigrad is imported. Two more are read
where they act: ``$MINIGRAD_NUM_THREADS`` (the thread pools' size when the CPU backend
starts; ``mg.set_num_threads`` changes it later, for the whole process) and ``$MINIGRAD_DATA``
(the dataset folder, read on each call of ``minigrad.data.default_root``).
"""

from __future__ import annotations

import contextlib
import operator
import os
import threading

__all__ = ["Config", "config"]


def _flag(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"config: {name} must be True or False, got {value!r}")
    return value


def _count(minimum):
    def check(name, value):
        try:
            number = None if isinstance(value, bool) else operator.index(value)  # ints, NumPy ints
        except TypeError:
            number = None
        if number is None or number < minimum:
            raise ValueError(f"config: {name} must be an int >= {minimum}, got {value!r}")
        return number
    return check


def _env_flag(variable: str) -> bool:
    return os.environ.get(variable, "1") != "0"


#: name -> (process default, check).
_OPTIONS = {
    "save_columns": (False, _flag),
    "chunk_bytes": (16 << 20, _count(1)),
    "channels_last_min": (32, _count(1)),
    "direct_conv": (True, _flag),
    "strip_conv": (True, _flag),
    "shift_conv": (True, _flag),
    "tiled_conv": (True, _flag),
    "serial_below": (1 << 15, _count(0)),
    "blas_serial_below": (50_000_000, _count(0)),
    "cpu_caching": (_env_flag("MINIGRAD_CPU_CACHING"), _flag),
    "cpu_free_max_bytes": (32 << 20, _count(0)),
    "cuda_caching": (_env_flag("MINIGRAD_CUDA_CACHING"), _flag),
}


class Config(threading.local):
    """The options of the module docstring as attributes: this thread's overrides over the process defaults.

    The defaults are class attributes and the overrides live in the thread's ``threading.local``
    dictionary, so reading an option is one C-level attribute lookup (the kernels' hot paths
    read them on every call).
    """

    def __setattr__(self, name, value):
        raise AttributeError(f"config: set options with mg.config.using({name}=...) for a block "
                             f"or mg.config.set({name}=...) for the process")

    @staticmethod
    def _checked(values: dict) -> dict:
        for name, value in values.items():
            if name not in _OPTIONS:
                raise ValueError(f"config: no option {name!r}; the options are {', '.join(_OPTIONS)}")
            values[name] = _OPTIONS[name][1](name, value)
        return values

    @contextlib.contextmanager
    def using(self, **values):
        """Override options in this thread for the duration of the block.

        Args:
            **values: option names and their values for the block.

        Raises:
            ValueError: an unknown option or a value of the wrong kind (before anything changes).
        """
        values = self._checked(values)
        local = self.__dict__  # this thread's overrides
        missing = object()
        previous = {name: local.get(name, missing) for name in values}
        local.update(values)
        try:
            yield self
        finally:
            for name, value in previous.items():
                if value is missing:
                    local.pop(name, None)
                else:
                    local[name] = value

    def set(self, **values) -> None:
        """Change process defaults (every thread without its own override sees them).

        Args:
            **values: option names and their new defaults.

        Raises:
            ValueError: an unknown option or a value of the wrong kind (before anything changes).
        """
        for name, value in self._checked(values).items():
            setattr(type(self), name, value)

    def defaults(self) -> dict:
        """The process defaults, ``{name: value}``."""
        return {name: getattr(type(self), name) for name in _OPTIONS}

    def __repr__(self) -> str:
        return "Config(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in _OPTIONS) + ")"


for _name, (_default, _check) in _OPTIONS.items():
    setattr(Config, _name, _default)
del _name, _default, _check

#: The one configuration object (``mg.config``).
config = Config()
