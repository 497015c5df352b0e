"""Experiments on scikit-learn's bundled 8x8 handwritten digits (no download)."""
