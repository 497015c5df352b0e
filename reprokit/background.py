"""One call on a background thread, its result (or its error) collected later.

Launch runs its git processes and its environment/hardware probes this way so they
overlap each other and the experiment's import. A bare thread, not concurrent.futures:
that import pulls in logging, and this is on the path of every launch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")


class Background(Generic[_T]):
    """Start ``fn(*args, **kwargs)`` on a daemon thread now; ``result()`` joins it."""

    def __init__(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> None:
        self._value: _T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args, kwargs), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., _T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            self._value = fn(*args, **kwargs)
        except BaseException as e:  # re-raised in the caller's thread by result()
            self._error = e

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the call to end, whatever its outcome (at most ``timeout`` seconds);
        whether it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self) -> _T:
        """The call's return value; its exception is raised here, in the caller's thread."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
