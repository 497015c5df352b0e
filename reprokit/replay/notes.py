"""What ``reprokit replay`` tells the user about how a re-run may differ from its original:
the environment compared with the recorded one (``--strict`` refuses), the snapshot's own
config compared with the recorded one, and the likely causes when ``--verify`` finds a
mismatch. All of it goes to stderr: stdout belongs to the experiment and the verify table.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from reprokit.capture import compare
from reprokit.errors import EXIT_ENV_REFUSED, ReprokitError
from reprokit.tables import safe_text


def say(message: str) -> None:
    """One ``reprokit: ...`` line on stderr, like launch's own progress lines."""
    # Replay's messages quote the record (ids, paths, notes): control characters escaped.
    print(f"reprokit: {safe_text(message, lines=True)}", file=sys.stderr, flush=True)


def report_environment(record: dict[str, Any], here: dict[str, Any], *, strict: bool) -> int:
    """Print the differences; the number that can change results (refused with ``strict``)."""
    if "error" in here:
        say(f"warning: could not inspect the replay environment ({here['error']})")
        if strict:
            raise ReprokitError(
                "--strict: could not compare the environment: " + str(here["error"]),
                exit_code=EXIT_ENV_REFUSED,
            )
        return 0
    diffs = compare.compare(record, here)
    if not diffs:
        say("environment: same as recorded")
        return 0
    say("the environment differs from the recorded one (* can change results):")
    print(compare.format_table(diffs), file=sys.stderr, flush=True)  # cells escaped
    relevant = [d.what for d in diffs if d.affects_results]
    if strict and relevant:
        raise ReprokitError(
            f"--strict: refusing to replay: {len(relevant)} difference(s) can change results "
            f"({', '.join(relevant[:3])}{', ...' if len(relevant) > 3 else ''})",
            hint="recreate the recorded environment (versions above), or drop --strict",
            exit_code=EXIT_ENV_REFUSED,
        )
    return len(relevant)


def report_config(recorded_config: Path, experiment_path: str, here: dict[str, Any]) -> None:
    """Say when the snapshot's experiment file resolves to another config than the recorded
    one (it should not); the recorded config is what runs either way."""
    if "config_error" in here:
        say(
            "note: could not resolve the snapshot's own config to compare "
            f"({here['config_error']}); running the recorded config"
        )
        return
    resolved = here.get("config")
    if not isinstance(resolved, str):
        return
    from reprokit.record.store import read_regular

    recorded = read_regular(recorded_config).decode("utf-8", "replace")
    if resolved != recorded:
        import difflib

        diff = difflib.unified_diff(
            recorded.splitlines(),
            resolved.splitlines(),
            "recorded config.yaml",
            f"{experiment_path} in the snapshot",
            lineterm="",
            n=0,
        )
        say(
            "note: the snapshot's experiment file resolves to a different config than the "
            "recorded one; the recorded config wins:"
        )

        print(safe_text("\n".join(diff), lines=True), file=sys.stderr, flush=True)


def likely_causes(record: dict[str, Any], env_differences: int, input_changes: int) -> list[str]:
    """What usually makes a replay's numbers differ, given what this replay saw."""
    causes = []
    if input_changes:
        causes.append("an input changed since the original run (see the warnings above)")
    if env_differences:
        causes.append(
            f"{env_differences} environment difference(s) that can change results (table above)"
        )
    gpus = (record.get("hardware") or {}).get("gpus") or []
    if gpus and not record.get("deterministic"):
        causes.append(
            "nondeterministic GPU kernels: launch with --deterministic, or compare with "
            "--rtol/--atol"
        )
    causes.append(
        "a random source reprokit does not seed: a generator seeded from the time or "
        "os.urandom, DataLoader workers without a worker_init_fn, another library's RNG"
    )
    causes.append("the experiment reads something that changes: the clock, the network, a cache")
    return causes
