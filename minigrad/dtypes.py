"""PyTorch's dtype names (``mg.float32``, ``mg.int64``, ...) for minigrad's NumPy dtypes.

``x.to(mg.float64)``, ``mg.zeros(3, dtype=mg.int64)`` and ``softmax(x, 1, dtype=mg.float64)``
read as the PyTorch code they were ported from.
"""

import numpy as np

__all__ = ["float32", "float64", "float", "double", "int32", "int64", "long", "uint8", "bool"]

float32 = float = np.dtype(np.float32)  # noqa: A001 - torch.float is float32
float64 = double = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = long = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool = np.dtype(np.bool_)  # noqa: A001 - torch.bool

#: The dtype of Python floats turned into tensors, of factories without a dtype, and of integer
#: tensors promoted by a floating op (PyTorch's default dtype). Not in ``__all__``: ``mg.float32`` is its name.
DEFAULT_FLOAT = float32
