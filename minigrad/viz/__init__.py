"""Visualization of what networks learned."""
