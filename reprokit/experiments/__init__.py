"""Experiment files: naming, discovery, import and static lineage chain; ``reprokit new`` and ``reprokit smoke``."""
