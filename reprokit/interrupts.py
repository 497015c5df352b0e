"""How reprokit's own processes take SIGTERM and SIGHUP.

A `kill` or a dropped ssh session must unwind a command like Ctrl-C does, so its clean-up
runs: a killed replay once left its worktree behind, and a killed `reprokit check` its
child interpreter. And a clean-up must not be stopped half-way by a second signal. Used by
checks, launch and replay, so it lives above all of them.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

# Signals that end a run or a command: Ctrl-C, `kill`, and the terminal going away (an ssh
# session that drops sends SIGHUP, which by default killed a run with its record left
# "running").
ENDING = ("SIGINT", "SIGTERM", "SIGHUP")

Handler = Callable[[int, FrameType | None], Any] | int | None


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread so it unwinds like Ctrl-C."""

    def __init__(self, signame: str = "SIGTERM") -> None:
        super().__init__(signame)
        self.signame = signame


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signal.Signals(signum).name)


@contextlib.contextmanager
def _handlers(handler: Handler, names: tuple[str, ...]) -> Iterator[None]:
    """``handler`` for the named signals inside the block (main thread only; elsewhere
    nothing changes), the previous handlers after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signums = [getattr(signal, n) for n in names if hasattr(signal, n)]
    previous = {s: signal.getsignal(s) for s in signums}
    try:
        for signum in signums:
            if previous[signum] != signal.SIG_IGN:  # nohup's SIGHUP stays ignored
                signal.signal(signum, handler)
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)


def sigterm_unwinds() -> contextlib.AbstractContextManager[None]:
    """Inside the block SIGTERM and SIGHUP raise :class:`Terminated` in the main thread, so
    they unwind like Ctrl-C (a killed replay once left its worktree behind)."""
    return _handlers(_raise_terminated, ("SIGTERM", "SIGHUP"))


def signals_ignored() -> contextlib.AbstractContextManager[None]:
    """Inside the block SIGINT, SIGTERM and SIGHUP are ignored: clean-up that a second
    Ctrl-C would stop half-way."""
    return _handlers(signal.SIG_IGN, ENDING)
