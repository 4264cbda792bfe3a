"""Atomic file writes: a temporary file in the target's folder, renamed over the target only when complete.

Every artifact msau writes (images, checkpoints, ONNX files, engines, sidecars, results) goes through here, so
an interrupted run never leaves a half-written file under a real name, nor a stray temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

_TMP_SUFFIX = ".tmp"  # temporaries are ".<target name>.<random>.tmp" beside the target


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on any error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are ordinary shared files
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes | memoryview) -> Path:
    """Write data to path atomically; returns path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 text to path atomically; returns path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def remove_leftovers(targets: Iterable[str | Path]) -> int:
    """Remove temporaries that atomic_path left beside targets (a process killed mid-write); returns how many.

    Only another process's work can leave one (an error in this process removes its own), so call this once
    no writer of these targets is left: after a job whose workers may have been killed.
    """
    wanted: dict[Path, set[str]] = {}
    for target in map(Path, targets):
        wanted.setdefault(target.parent, set()).add(target.name)
    removed = 0
    for folder, names in wanted.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:  # a folder never created has no leftovers
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") and name.endswith(_TMP_SUFFIX):
                target = name[1 : -len(_TMP_SUFFIX)].rpartition(".")[0]  # mkstemp's random part has no dot
                if target in names:
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
    return removed
