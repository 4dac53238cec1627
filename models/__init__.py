"""The architectures of the course (installed as ``minigrad.models``)."""
