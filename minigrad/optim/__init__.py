"""Optimizers with PyTorch's update rules, and learning-rate schedules."""
