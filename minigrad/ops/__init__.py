"""Differentiable ops (``Function`` subclasses) and their functional wrappers.

Each module owns one family of ops and lists its public functions in ``__all__``;
``minigrad.functional`` re-exports them all.
"""
