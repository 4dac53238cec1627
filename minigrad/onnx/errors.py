"""The error of the ONNX exporter and importer, and the import of the optional ``onnx`` package."""

from __future__ import annotations


class OnnxError(ValueError):
    """An op without an ONNX mapping, an unreadable or unsupported ONNX file."""


def require_onnx():
    """The ``onnx`` module, or an ``OnnxError`` saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise OnnxError('onnx: the "onnx" package is not installed; pip install "minigrad[onnx]"') from None
    return onnx
