"""Keep C libraries' own error lines off a CLI user's terminal: the CLI names each bad file on one line itself.

libpng prints "libpng error: IDAT: CRC error" straight to file descriptor 2 before OpenCV returns None for a
corrupt PNG, so Python cannot catch it. Inside ``quiet_library_lines()`` descriptor 2 is a pipe, and a thread
forwards everything written to it except such lines to the real stderr, as it comes (progress bars included).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

# Lines that only repeat, less clearly, what the CLI's own line about the file says.
LIBRARY_PREFIXES = (b"libpng error: ", b"libpng warning: ")
_SEPARATOR = re.compile(rb"(\r|\n)")
_CHUNK = 65536


def _could_start(partial: bytes, prefixes: tuple[bytes, ...]) -> bool:
    return any(p.startswith(partial) or partial.startswith(p) for p in prefixes)


def _forward(source: int, target: int, prefixes: tuple[bytes, ...]) -> None:
    """Copy source to target until end of file, leaving out lines that start with one of prefixes."""
    pending = b""
    while chunk := os.read(source, _CHUNK):
        pending += chunk
        parts = _SEPARATOR.split(pending)  # text, separator, text, separator, ..., unfinished text
        pending = parts.pop()
        out = bytearray()
        for text, separator in zip(parts[::2], parts[1::2]):
            if not text.startswith(prefixes):
                out += text + separator
        if pending and not _could_start(pending, prefixes):
            out += pending  # a progress bar redraws without a newline: show it now
            pending = b""
        if out:
            os.write(target, bytes(out))
    if pending:
        os.write(target, pending)


@contextlib.contextmanager
def quiet_library_lines(prefixes: tuple[bytes, ...] = LIBRARY_PREFIXES) -> Iterator[None]:
    """Within the block, lines written to file descriptor 2 that start with one of prefixes are dropped."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 (a daemon, an embedded interpreter): nothing to filter
        yield
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    thread = threading.Thread(target=_forward, args=(read_end, saved, prefixes), name="msau-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last write end closes: the thread reads to the end and stops
        thread.join(timeout=5)
        os.close(read_end)
        os.close(saved)
