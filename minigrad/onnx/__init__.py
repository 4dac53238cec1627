"""ONNX export and import: models leave minigrad for onnxruntime or Netron, and ONNX CNNs come in.

    >>> import minigrad.onnx
    >>> minigrad.onnx.export(model, x, "model.onnx")          # trace one forward pass
    >>> net = minigrad.onnx.load("model.onnx")                 # a Module running minigrad's ops
    >>> net(x)                                                 # autograd works through it

``export`` records the ``Function`` graph of one forward pass in eval mode (through
``minigrad.autograd.function_hook``) and writes it as ONNX nodes, the model's parameters and
buffers as initializers under their ``state_dict`` names, with a symbolic batch dimension.
``load`` rebuilds a graph as a ``Module``: Conv, ConvTranspose, Gemm and BatchNormalization
nodes become ``nn.Conv2d``, ``nn.ConvTranspose2d``, ``nn.Linear`` and ``nn.BatchNorm2d`` layers
(so ``summary``, ``viz`` and fine-tuning see real layers), the rest run as functional ops,
and shape arithmetic (Shape, Gather, Unsqueeze, Concat ...) is evaluated as constants.

Both need the optional packages: ``pip install "minigrad[onnx]"`` (onnx, onnxruntime).
"""

from __future__ import annotations

from .errors import OnnxError

__all__ = ["export", "trace", "load", "OnnxError", "SUPPORTED_OPSETS"]

from .exporting import SUPPORTED_OPSETS, export, trace
from .loading import load
