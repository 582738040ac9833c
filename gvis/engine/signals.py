"""Signal handlers: the one place gvis installs them. Training records SIGINT / SIGTERM and stops at a
step boundary (:class:`StopOnSignal`); ``gvis compare`` passes them on to the command it runs."""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Callable, Iterable, Iterator


@contextlib.contextmanager
def handling_signals(signums: Iterable[int], handler: Callable[[int, Any], None]) -> Iterator[None]:
    """``handler`` for ``signums`` while the block runs, the previous handlers restored after it.

    Python runs signal handlers in the main thread only: in any other thread nothing is installed.
    """
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in signums:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class StopOnSignal:
    """Record SIGINT / SIGTERM instead of dying, so the loop can stop at a step boundary and save.

    ``received``: the name of the first signal (``None`` until one comes). A second SIGINT raises
    ``KeyboardInterrupt`` at once. Handlers are installed only in the main thread.
    """

    def __init__(self) -> None:
        self.received: str | None = None
        self._handlers = contextlib.ExitStack()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    def __enter__(self) -> "StopOnSignal":
        self._handlers.enter_context(handling_signals((signal.SIGINT, signal.SIGTERM), self._handle))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._handlers.close()
