"""Four times the hidden width: more capacity for the same short SGD schedule."""

from dataclasses import replace

from experiments.digits.mlp.baseline_01_01 import config as parent_config, main, smoke

__all__ = ["config", "main", "smoke"]

config = replace(parent_config, model=replace(parent_config.model, hidden=64))
