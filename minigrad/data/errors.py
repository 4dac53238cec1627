"""``DataError``: raised for missing or corrupt data, naming the file and the problem."""

__all__ = ["DataError"]


class DataError(ValueError):
    """Missing, truncated or malformed data files (the message names the file and what is wrong)."""
