"""Weight initialisers (``nn.init``) with PyTorch's formulas."""

__all__ = []
