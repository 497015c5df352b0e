"""Small statistics for comparing seeds of experiments: mean, sample std, pooled sigma, verdicts,
and which way a metric is better."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Words of metric names whose direction is obvious, matched against whole name tokens (not
# substrings: "time" inside `reward_per_timestep` made that lower-is-better). The lower list
# is checked first because a name holding words of both lists is usually a cost measured on
# a quantity that is itself higher-is-better: `acc_err`, `score_mse`, `time_to_acc`.
_LOWER = frozenset(
    ("loss", "err", "error", "perplexity", "ppl", "mse", "mae", "rmse", "nll", "time", "latency")
)
_HIGHER = frozenset(
    ("acc", "accuracy", "f1", "auc", "precision", "recall", "score", "reward", "return")
)
# Token boundaries: "_", "/", ".", "-" and any other non-alphanumeric character
# (`val/loss`, `top1-acc`, `acc@1`), and a lower-to-upper camelCase step (`valLoss`).
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^a-z0-9]+")
_DIGITS = re.compile(r"[0-9]+")
NOISE_SIGMAS = 2.0


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (ddof=1) of one group of runs."""

    n: int
    mean: float | None
    std: float | None


def as_float(value: Any) -> float | None:
    """``value`` as a float when it is a real number (a bool is not), else None; an int
    too large for a float is ``±inf``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        # An int past float's range (a hand-edited or unusual record) is as far out as a
        # float can say: summary statistics treat it like the infinity it rounds to.
        return math.inf if value > 0 else -math.inf


def summarize(values: Sequence[float]) -> Summary:
    """Mean and sample std of finite values (one per seed: ``evidence.by_seed``); std is None
    below two values, mean None for none."""
    n = len(values)
    if n == 0:
        return Summary(0, None, None)
    mean = math.fsum(values) / n
    if n < 2:
        return Summary(n, mean, None)
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return Summary(n, mean, math.sqrt(var))


def pooled_std(a: Summary, b: Summary) -> float | None:
    """Pooled seed standard deviation of two groups, or None without two runs on each side."""
    if a.n < 2 or b.n < 2 or a.std is None or b.std is None:
        return None
    var = ((a.n - 1) * a.std**2 + (b.n - 1) * b.std**2) / (a.n + b.n - 2)
    return math.sqrt(var)


def delta_sigma(delta: float, sigma: float | None) -> float | None:
    """``delta`` in units of ``sigma``; infinite when seeds agree exactly and the mean moved."""
    if sigma is None:
        return None
    if sigma == 0.0:
        return 0.0 if delta == 0.0 else math.copysign(math.inf, delta)
    return delta / sigma


def verdict(delta: float | None, sigma_units: float | None, direction: str | None) -> str:
    """ "within noise", "better", "worse", "changed" (no direction) or "no noise estimate"."""
    if delta is None:
        return "no data"
    if sigma_units is None:
        return "no noise estimate"
    if abs(sigma_units) < NOISE_SIGMAS:
        return "within noise"
    if direction is None:
        return "changed"
    improved = delta > 0 if direction == "higher" else delta < 0
    return "better" if improved else "worse"


def infer_direction(
    metric: str, overrides: Mapping[str, str] | None = None, explicit: str | None = None
) -> str | None:
    """ "higher", "lower" or None: the flag, then settings.metric_directions, then the name."""
    if explicit is not None:
        return explicit
    if overrides and metric in overrides:
        return overrides[metric]
    tokens = name_tokens(metric)
    if tokens & _LOWER:
        return "lower"
    if tokens & _HIGHER:
        return "higher"
    return None


def name_tokens(metric: str) -> frozenset[str]:
    """The lower-case words of a metric name: ``"val/topAcc_1"`` → ``{"val", "top", "acc", "1"}``.

    A word with digits also gives its letter parts (``acc1``, ``val_acc5`` as torchvision's
    scripts name them → ``acc``; ``f1`` stays a word too), and a plural its singular
    (``losses`` → ``loss``, ``train_errors`` → ``error``)."""
    words = [t for t in _SEPARATORS.split(_CAMEL.sub("_", metric).lower()) if t]
    tokens = set(words)
    for word in words:
        tokens.update(part for part in _DIGITS.split(word) if part)
        if len(word) > 3 and word.endswith("es"):
            tokens.add(word[:-2])
        if len(word) > 3 and word.endswith("s"):
            tokens.add(word[:-1])
    return frozenset(tokens)
