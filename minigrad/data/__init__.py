"""Datasets, transforms and the DataLoader."""
