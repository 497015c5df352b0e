"""``reprokit.stats``: metric direction from whole name tokens."""

from __future__ import annotations

import pytest

from reprokit import stats


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        # "time" is a substring of "timestep", not a token of it: the reward decides.
        ("reward_per_timestep", "higher"),
        ("episode_return", "higher"),
        ("accuracy", "higher"),  # a whole word now, no longer through the substring "acc"
        ("val/loss", "lower"),
        ("val.loss", "lower"),
        ("top1-acc", "higher"),
        ("acc@1", "higher"),
        ("valLoss", "lower"),  # camelCase splits too
        ("test_error", "lower"),
        ("train_time", "lower"),
        # Both kinds of word: the cost of a higher-is-better quantity is still a cost.
        ("score_mse", "lower"),
        ("time_to_acc", "lower"),
        # Substrings that used to match and must not: "err" in "ferret", "acc" in "access".
        ("ferret_count", None),
        ("cache_accesses", None),
        ("timestep", None),
        # torchvision's names, plurals, and f1 kept whole though it holds a digit.
        ("acc1", "higher"),
        ("val_acc5", "higher"),
        ("losses", "lower"),
        ("train_errors", "lower"),
        ("val_f1", "higher"),
        ("timesteps", None),
    ],
)
def test_direction_from_name_tokens(metric: str, direction: str | None) -> None:
    assert stats.infer_direction(metric) == direction


def test_name_tokens_split_on_separators_and_camel_case() -> None:
    assert stats.name_tokens("val/topAcc_1.last-x") == {"val", "top", "acc", "1", "last", "x"}
