"""Keep C libraries' own error lines off a CLI user's terminal: the CLI names each bad file on one line itself.

libpng prints "libpng error: IDAT: CRC error" straight to file descriptor 2 before OpenCV returns None for a
corrupt PNG, so Python cannot catch it. Inside ``quiet_library_lines()`` descriptor 2 is a pipe, and a thread
forwards everything written to it except such lines to the real stderr, as it comes (progress bars included).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

# Lines that only repeat, less clearly, what the CLI's own line about the file says.
LIBRARY_PREFIXES = (b"libpng error: ", b"libpng warning: ")
_CHUNK = 65536


def _partial_start(data: bytes, prefixes: tuple[bytes, ...]) -> int:
    """Where at the end of data a prefix may have begun that the next read completes (len(data) if nowhere)."""
    longest = max(map(len, prefixes))
    for i in range(max(0, len(data) - longest + 1), len(data)):
        if any(p.startswith(data[i:]) for p in prefixes):
            return i
    return len(data)


def _forward(source: int, target: int, prefixes: tuple[bytes, ...]) -> None:
    """Copy source to target until end of file, leaving out each library line: from one of prefixes to the end of
    its line, wherever it starts (a progress bar may be drawn on the same line, with no newline before it)."""
    pending = b""
    while chunk := os.read(source, _CHUNK):
        pending += chunk
        out = bytearray()
        while True:
            starts = [at for at in (pending.find(p) for p in prefixes) if at >= 0]
            if not starts:
                keep = _partial_start(pending, prefixes)
                out += pending[:keep]  # what a progress bar draws shows at once; only a possible prefix waits
                pending = pending[keep:]
                break
            start = min(starts)
            end = pending.find(b"\n", start)
            out += pending[:start]
            if end < 0:
                pending = pending[start:]  # the rest of the library line is still to come
                break
            pending = pending[end + 1 :]
        if out:
            os.write(target, bytes(out))
    if pending and not pending.startswith(prefixes):
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
