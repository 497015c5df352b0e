"""The base of the family: a one-hidden-layer MLP trained with SGD on the digits.

Deliberately small and short so the derived experiments have room to improve it.
"""

from dataclasses import dataclass, replace
from typing import Literal


@dataclass(frozen=True)
class DataConfig:
    val_fraction: float = 0.2
    standardize: bool = True


@dataclass(frozen=True)
class ModelConfig:
    hidden: int = 16
    depth: int = 1
    activation: Literal["relu", "tanh", "gelu"] = "tanh"
    dropout: float = 0.0


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["sgd", "adam"] = "sgd"
    lr: float = 0.003
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 10


@dataclass(frozen=True)
class Config:
    seed: int = 0
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()


config = Config()


def main(config: Config) -> dict[str, float]:
    """Train and return the final ``val_acc``, ``val_loss`` and ``train_loss``."""
    # Imported here so importing the experiment (reprokit check) never loads torch.
    from experiments.digits.mlp import _train

    return _train.train(config)


def smoke(config: Config) -> Config:
    """The same experiment, one epoch: a quick end-to-end test of the code path."""
    return replace(config, optim=replace(config.optim, epochs=1))
