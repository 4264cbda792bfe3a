"""SIGTERM and SIGHUP unwind a CLI like Ctrl-C does, so that what it was writing is cleaned up, not left half-done.

Python turns SIGINT into KeyboardInterrupt, which runs every ``finally`` and ``except BaseException`` on the way
out (msau.runtime.atomic removes its temporary there); SIGTERM (a service manager, ``kill``, a batch scheduler)
and SIGHUP (a closed terminal) would end the process on the spot. Inside ``terminate_as_interrupt()`` they
raise ``Terminated``, a KeyboardInterrupt, in the main thread instead.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal; ``signal_number`` says which."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """The shell's code for a process ended by a signal: 128 + its number (130 for Ctrl-C)."""
    return 128 + (interrupt.signal_number if isinstance(interrupt, Terminated) else signal.SIGINT)


def signal_name(interrupt: KeyboardInterrupt) -> str:
    """SIGTERM, SIGHUP or SIGINT: what stopped the process."""
    return str(interrupt) if isinstance(interrupt, Terminated) else "SIGINT"


def _raise_terminated(signal_number: int, frame) -> None:
    raise Terminated(signal_number)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise Terminated in the main thread; the previous handlers come back
    after it. Outside the main thread (where Python cannot set handlers) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _raise_terminated) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
