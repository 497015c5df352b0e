"""Adam with a smaller step instead of SGD: two fields at once, which blame can ablate."""

from dataclasses import replace

from experiments.digits.mlp.deep_03_02 import config as parent_config, main, smoke

__all__ = ["config", "main", "smoke"]

config = replace(parent_config, optim=replace(parent_config.optim, name="adam", lr=0.002))
