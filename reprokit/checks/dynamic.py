"""Checks 5-6 on one imported experiment module: what it must define, and its config.

These look at the live objects of a module imported once, in the checks' child process
(``reprokit.checks.isolate``, which bounds each file by ``check_timeout``; importing it, and
the findings for a failed import, are in ``reprokit.checks.importing``):
RK501 no config, RK502 config is not a dataclass instance, RK503/RK504 frozen all the way
down (``checks.frozen``), RK505 no field holds a credential (``checks.secrets``),
RK601-RK603 the config round-trips through YAML and RK605/RK606 smoke() works and
round-trips (``checks.roundtrip``), RK604 no callable main, RK610 the family's base
defines no smoke().
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType

from reprokit.checks.findings import Finding
from reprokit.checks.frozen import frozen_findings
from reprokit.checks.locations import Locator
from reprokit.checks.roundtrip import roundtrip_finding, smoke_findings
from reprokit.checks.secrets import secret_findings
from reprokit.settings import Settings


def module_findings(
    path: Path, module: ModuleType, settings: Settings, *, is_base: bool
) -> list[Finding]:
    """Checks 5-6 for one imported experiment module."""
    loc = Locator(path)
    findings: list[Finding] = []
    entry = settings.entry
    main = getattr(module, entry, None)
    if not callable(main):
        line, col = loc.name_line(entry)
        findings.append(
            Finding(
                path,
                line,
                col,
                "RK604",
                f"no callable {entry}(config)",
                f"define def {entry}(config) or import it from the parent",
            )
        )
    smoke = getattr(module, "smoke", None)
    if is_base and settings.require_smoke and smoke is None:
        findings.append(
            Finding(
                path,
                1,
                1,
                "RK610",
                "the family's base defines no smoke(config)",
                "add def smoke(config) returning a quick variant of config (e.g. one epoch)"
                " for `reprokit smoke`; or set require_smoke = false in [tool.reprokit]",
            )
        )
    if not hasattr(module, "config"):
        findings.append(
            Finding(
                path,
                1,
                1,
                "RK501",
                "no module-level config",
                "define config = Config(...), an instance of a frozen dataclass",
            )
        )
        return findings
    config = module.config
    line, col = loc.name_line("config")
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        what = (
            f"the class {config.__name__}"
            if isinstance(config, type)
            else f"a {type(config).__name__}"
        )
        findings.append(
            Finding(
                path,
                line,
                col,
                "RK502",
                f"config is {what}, not a dataclass instance",
                "define config = Config(...), an instance of a frozen dataclass",
            )
        )
        return findings
    findings += frozen_findings(config, path, loc, settings.allow_mutable_fields, settings.root)
    if settings.secret_fields:
        findings += secret_findings(config, path, loc, settings.root)
    roundtrip = roundtrip_finding(path, config, loc)
    if roundtrip is not None:
        findings.append(roundtrip)
    if callable(smoke):
        # A config that does not round-trip makes smoke's fail the same way: say it once.
        findings += smoke_findings(path, smoke, config, loc, roundtrip=roundtrip is None)
    return findings
