"""Which function runs each ONNX node type: ``TENSOR`` (minigrad's ops) and ``NUMPY`` (constants only).

``loading`` runs a node's ``NUMPY`` form when every input is a constant (folding it at load
time when its inputs are initializers), else its ``TENSOR`` form. A node type in neither table
is unsupported.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .load_ops import (average_pool, batch_norm, binary, binary_numpy, clip, conv, conv_transpose, elu, gemm,
                       global_pool, hard_sigmoid, instance_norm, leaky_relu, lrn, matmul, max_pool, prelu, reduce,
                       resize, selu, softmax, softplus, unary, upsample, variadic)
from .load_shape import (numpy_unary, cast, concat, constant, constant_of_shape, dropout, flatten, gather,
                         identity, pad, reshape, shape_of, slice_, split, squeeze, tile, transpose, unsqueeze)

__all__ = ["TENSOR", "NUMPY"]

TENSOR = {
    "Conv": conv, "ConvTranspose": conv_transpose, "MaxPool": max_pool, "AveragePool": average_pool,
    "GlobalAveragePool": global_pool("GlobalAveragePool"), "GlobalMaxPool": global_pool("GlobalMaxPool"),
    "BatchNormalization": batch_norm, "InstanceNormalization": instance_norm, "LRN": lrn, "Gemm": gemm,
    "MatMul": matmul,
    "Add": binary("Add"), "Sub": binary("Sub"), "Mul": binary("Mul"), "Div": binary("Div"), "Pow": binary("Pow"),
    "Sum": variadic(F.add), "Max": variadic(F.maximum), "Min": variadic(F.minimum),
    "Relu": unary(F.relu), "Sigmoid": unary(F.sigmoid), "Tanh": unary(F.tanh), "Neg": unary(F.neg),
    "Exp": unary(F.exp), "Log": unary(F.log), "Sqrt": unary(F.sqrt), "Abs": unary(F.abs),
    "LeakyRelu": leaky_relu, "Elu": elu, "Selu": selu, "Softplus": softplus, "PRelu": prelu,
    "HardSigmoid": hard_sigmoid, "Clip": clip, "Softmax": softmax("Softmax"), "LogSoftmax": softmax("LogSoftmax"),
    "ReduceMean": reduce("ReduceMean"), "ReduceSum": reduce("ReduceSum"),
    "Flatten": flatten, "Reshape": reshape, "Transpose": transpose, "Concat": concat, "Unsqueeze": unsqueeze,
    "Squeeze": squeeze, "Shape": shape_of, "Gather": gather, "Slice": slice_, "Split": split, "Tile": tile,
    "Pad": pad, "Resize": resize, "Upsample": upsample, "Dropout": dropout, "Identity": identity, "Cast": cast,
}

# Shape arithmetic and constants, evaluated in NumPy when every input is a constant.
NUMPY = {
    "Constant": constant, "ConstantOfShape": constant_of_shape, "Shape": shape_of, "Gather": gather,
    "Unsqueeze": unsqueeze, "Squeeze": squeeze, "Concat": concat, "Reshape": reshape, "Flatten": flatten,
    "Transpose": transpose, "Slice": slice_, "Tile": tile, "Cast": cast, "Identity": identity,
    "Add": binary_numpy("Add"), "Sub": binary_numpy("Sub"), "Mul": binary_numpy("Mul"), "Div": binary_numpy("Div"),
    "Neg": numpy_unary(np.negative), "Sqrt": numpy_unary(np.sqrt), "Exp": numpy_unary(np.exp),
}
