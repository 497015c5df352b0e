"""Training code shared by the ``digits/mlp`` experiments.

Bit-for-bit reproducible on CPU given ``config.seed``: every random draw (split, weight
init, shuffling, dropout) comes from a ``torch.Generator`` seeded from the config, never
from the global RNG, so nothing else in the process (a library, a previous run in the same
interpreter) can shift the numbers. ``replay --verify`` compares results exactly.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

import reprokit

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class _Dropout(nn.Module):
    """Dropout drawing its masks from our generator (``nn.Dropout`` uses the global RNG)."""

    def __init__(self, p: float, generator: torch.Generator) -> None:
        super().__init__()
        self.p = p
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=self.generator) >= self.p
        return x * keep / (1.0 - self.p)


def load_data(
    val_fraction: float, standardize: bool, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The 1,797 digits as float32, split by a seeded permutation; train-set statistics only."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(x), generator=generator)
    n_val = max(1, round(len(x) * val_fraction))
    val, train = order[:n_val], order[n_val:]
    x_train, x_val = x[train], x[val]
    if standardize:
        mean = x_train.mean(dim=0)
        # Border pixels that are constant in the training set keep scale 1: dividing by a
        # clamped tiny std blew the rare non-zero validation pixel up to ~1e6 (val_loss ~250).
        std = x_train.std(dim=0)
        std = torch.where(std > 1e-6, std, torch.ones_like(std))
        x_train, x_val = (x_train - mean) / std, (x_val - mean) / std
    return x_train, y[train], x_val, y[val]


def build_model(
    n_in: int,
    n_out: int,
    hidden: int,
    depth: int,
    activation: str,
    dropout: float,
    generator: torch.Generator,
) -> nn.Sequential:
    """``depth`` hidden layers of width ``hidden``; weights drawn from ``generator``."""
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(depth):
        layers += [
            nn.Linear(width, hidden),
            _ACTIVATIONS[activation](),
            _Dropout(dropout, generator),
        ]
        width = hidden
    layers.append(nn.Linear(width, n_out))
    model = nn.Sequential(*layers)
    for module in model.modules():
        if isinstance(module, nn.Linear):
            # nn.Linear's own default init, but from our generator instead of the global one.
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            bound = 1.0 / math.sqrt(module.in_features)
            nn.init.uniform_(module.bias, -bound, bound, generator=generator)
    return model


def _optimizer(model: nn.Module, optim: Any) -> torch.optim.Optimizer:
    if optim.name == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=optim.lr, momentum=0.9, weight_decay=optim.weight_decay
        )
    if optim.name == "adam":
        return torch.optim.Adam(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    raise ValueError(f"optim.name: unknown optimizer {optim.name!r}; use 'sgd' or 'adam'")


def train(config: Any) -> dict[str, float]:
    """Train on the digits; log per-epoch metrics; return the final ones."""
    generator = torch.Generator().manual_seed(config.seed)
    x_train, y_train, x_val, y_val = load_data(
        config.data.val_fraction, config.data.standardize, generator
    )
    m = config.model
    model = build_model(x_train.shape[1], 10, m.hidden, m.depth, m.activation, m.dropout, generator)
    optimizer = _optimizer(model, config.optim)
    loss_fn = nn.CrossEntropyLoss()
    metrics: dict[str, float] = {}
    for epoch in range(1, config.optim.epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total = 0.0
        for start in range(0, len(order), config.optim.batch_size):
            batch = order[start : start + config.optim.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        model.eval()
        with torch.no_grad():
            logits = model(x_val)
            val_loss = loss_fn(logits, y_val).item()
            val_acc = (logits.argmax(dim=1) == y_val).float().mean().item()
        metrics = {"train_loss": total / len(order), "val_loss": val_loss, "val_acc": val_acc}
        reprokit.log(step=epoch, **metrics)
    return metrics
