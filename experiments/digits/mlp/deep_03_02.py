"""A second hidden layer on top of the wide model (slower to train with plain SGD)."""

from dataclasses import replace

from experiments.digits.mlp.wide_02_01 import config as parent_config, main, smoke

__all__ = ["config", "main", "smoke"]

config = replace(parent_config, model=replace(parent_config.model, depth=2))
