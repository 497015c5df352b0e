"""What differs between the environment a run recorded and the one a replay runs in.

:func:`compare` is pure: it takes the recorded ``environment``/``hardware``/``torch``
objects of a run record and the same three objects describing this machine, and returns
one :class:`Difference` per line of the table ``reprokit replay`` prints. A difference
``affects_results`` when it can change the numbers (python, packages, torch/CUDA/cuDNN,
GPUs, CPU capability); ``replay --strict`` refuses to run on those.

The facts about *this* machine are measured by :func:`reprokit.replay.child.probe` in a
child process set up like the replay's run: the replay's own process never imports torch
(STYLE.md habit 9).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reprokit.tables import render_table

# Listed first in the table: the packages whose versions most often move numbers.
_FIRST = ("torch", "numpy")
_CUDA_RE = re.compile(r"^(nvidia-|triton$|.*cuda|.*cudnn|.*nccl|.*cublas)")
_MAX_PACKAGE_ROWS = 12


@dataclass(frozen=True)
class Difference:
    """One line of the environment table."""

    what: str
    recorded: str
    here: str
    affects_results: bool


def _norm(name: str) -> str:
    # PEP 503 normalization: "Scikit_Learn" and "scikit-learn" are the same distribution.
    return re.sub(r"[-_.]+", "-", name).lower()


def _package_order(name: str) -> tuple[int, str]:
    if name in _FIRST:
        return _FIRST.index(name), name
    if _CUDA_RE.match(name):
        return len(_FIRST), name
    return len(_FIRST) + 1, name


def compare_packages(
    recorded: Mapping[str, str] | None, here: Mapping[str, str] | None
) -> list[Difference]:
    """Added, removed and changed packages; torch, numpy and CUDA ones first."""
    old = {_norm(k): str(v) for k, v in (recorded or {}).items()}
    new = {_norm(k): str(v) for k, v in (here or {}).items()}
    diffs = []
    for name in sorted(set(old) | set(new), key=_package_order):
        a, b = old.get(name), new.get(name)
        if a != b:
            diffs.append(Difference(f"package {name}", a or "(absent)", b or "(absent)", True))
    if len(diffs) > _MAX_PACKAGE_ROWS:
        rest = len(diffs) - _MAX_PACKAGE_ROWS + 1
        diffs = diffs[: _MAX_PACKAGE_ROWS - 1]
        diffs.append(Difference(f"... {rest} more packages", "", "", True))
    return diffs


def _gpu_summary(hardware: Mapping[str, Any]) -> tuple[str, str]:
    """``"2 x NVIDIA A100"`` and the drivers, of the GPUs the run can see."""
    gpus = _used_gpus(hardware)
    if not gpus:
        return "none", "-"
    names: dict[str, int] = {}
    for gpu in gpus:
        name = str(gpu.get("name") or "?")
        names[name] = names.get(name, 0) + 1
    model = ", ".join(f"{n} x {name}" for name, n in names.items())
    drivers = sorted({str(g.get("driver")) for g in gpus if g.get("driver")})
    return model, ", ".join(drivers) or "-"


def _get(obj: Mapping[str, Any] | None, *keys: str) -> Any:
    value: Any = obj or {}
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def compare(recorded: Mapping[str, Any], here: Mapping[str, Any]) -> list[Difference]:
    """Differences between two ``{"environment", "hardware", "torch"}`` mappings.

    ``recorded`` is a run record (extra keys are ignored). Facts missing on either side
    (a record without torch, a machine where GPUs cannot be listed) are not differences,
    except that a recorded torch that is not installed here is.
    """
    diffs: list[Difference] = []

    def add(what: str, a: Any, b: Any, affects: bool) -> None:
        if a is not None and b is not None and a != b:
            diffs.append(Difference(what, _text(a), _text(b), affects))

    add(
        "python",
        _get(recorded, "environment", "python", "version"),
        _get(here, "environment", "python", "version"),
        True,
    )
    add(
        "python implementation",
        _get(recorded, "environment", "python", "implementation"),
        _get(here, "environment", "python", "implementation"),
        True,
    )
    diffs += compare_packages(
        _get(recorded, "environment", "packages"), _get(here, "environment", "packages")
    )
    rec_torch, here_torch = recorded.get("torch"), here.get("torch")
    if rec_torch and here_torch:
        for key, label in (("cuda", "torch CUDA"), ("cudnn", "torch cuDNN")):
            # A CPU build reports None for both; None vs a version is a real difference.
            a, b = rec_torch.get(key), here_torch.get(key)
            if a != b:
                diffs.append(Difference(label, _text(a), _text(b), True))
        add(
            "CPU capability",
            rec_torch.get("cpu_capability"),
            here_torch.get("cpu_capability"),
            True,
        )
        for key, label in (
            ("intra_op_threads", "intra-op threads"),
            ("inter_op_threads", "inter-op threads"),
        ):
            # Informational: the replay applies the recorded counts to its run.
            add(f"{label} (recorded applied)", rec_torch.get(key), here_torch.get(key), False)
    rec_hw, here_hw = recorded.get("hardware"), here.get("hardware")
    if rec_hw is not None and here_hw is not None:
        (rec_gpu, rec_driver), (here_gpu, here_driver) = _gpu_summary(rec_hw), _gpu_summary(here_hw)
        add("GPUs (visible)", rec_gpu, here_gpu, True)
        if rec_gpu != "none" and here_gpu != "none":
            add("GPU driver", rec_driver, here_driver, False)
        add("CPU", _get(rec_hw, "cpu", "model"), _get(here_hw, "cpu", "model"), False)
        add(
            "logical cores",
            _get(rec_hw, "cpu", "logical_cores"),
            _get(here_hw, "cpu", "logical_cores"),
            False,
        )
    return diffs


def format_table(diffs: list[Difference]) -> str:
    """``what | recorded | here`` with a ``*`` after the rows that can change results."""
    rows = [(d.what + (" *" if d.affects_results else ""), d.recorded, d.here) for d in diffs]
    # Recorded values come from someone else's record: render_table escapes them.
    table = render_table(("what", "recorded", "here"), rows, sep=" | ", rule="-+-")
    return table.removesuffix("\n")


def gpu_selection(
    recorded_hw: Mapping[str, Any] | None, here_hw: Mapping[str, Any] | None
) -> tuple[str | None, str | None]:
    """The ``CUDA_VISIBLE_DEVICES`` a replay should use, and a warning when it cannot match.

    The same GPUs (by UUID) are selected when they are all here, else the same number of
    GPUs by index. A run that used no GPU hides this machine's GPUs (``""``), so code that
    picks ``cuda`` when available takes the CPU path the original took. ``(None, None)``:
    leave the variable as it is (nothing recorded, or no GPUs either side).
    """
    if recorded_hw is None:
        return None, None
    used = _used_gpus(recorded_hw)
    here = list((here_hw or {}).get("gpus") or [])
    if not used:
        return ("", None) if here else (None, None)
    here_uuids = {str(g.get("uuid")) for g in here if g.get("uuid")}
    uuids = [str(g.get("uuid")) for g in used]
    if all(u in here_uuids for u in uuids):
        return ",".join(uuids), None
    if len(here) >= len(used):
        return ",".join(str(i) for i in range(len(used))), None
    return None, f"the run used {len(used)} GPU(s); this machine has {len(here)}"


def _used_gpus(hardware: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The recorded GPUs the run could see, in CUDA_VISIBLE_DEVICES order."""
    gpus = [g for g in hardware.get("gpus") or [] if isinstance(g, Mapping)]
    visible = hardware.get("cuda_visible_devices")
    if visible is None:
        return gpus
    chosen = []
    for token in str(visible).split(","):
        token = token.strip()
        if not token:
            continue
        if token.isdigit():
            match = [g for g in gpus if g.get("index") == int(token)]
        else:
            match = [g for g in gpus if str(g.get("uuid", "")).startswith(token)]
        if not match:
            break  # CUDA stops at the first invalid entry, so the rest were never visible
        chosen.append(match[0])
    return chosen
