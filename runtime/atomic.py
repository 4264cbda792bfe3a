"""Atomic file writes: a temporary file in the target's folder, renamed over the target only when complete.

Every artifact msau writes (images, checkpoints, ONNX files, engines, sidecars, results) goes through here, so
an interrupted run never leaves a half-written file under a real name. An error or an interruption the process
sees (Ctrl-C; SIGTERM and SIGHUP in the CLIs, msau.runtime.interrupt) removes the temporary; one that the process
cannot see (SIGKILL, power loss) leaves it, named after its writer's process id, and ``remove_leftovers`` sweeps it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

_TMP_SUFFIX = ".tmp"  # temporaries are ".<target name>.<writer's pid>-<random>.tmp" beside the target
_PID_SEPARATOR = "-"
_DEFAULT_UMASK = 0o022


def current_umask() -> int:
    """The process's umask, read without changing it where Linux says it (changing it races with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return _DEFAULT_UMASK


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on any error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}{_PID_SEPARATOR}", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp creates 0600; outputs are ordinary files, as open() makes
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


def _writer_alive(temporary: str) -> bool:
    """True if the process whose id a temporary's name holds is running here (or the name holds none we made)."""
    pid, separator, _ = temporary[1 : -len(_TMP_SUFFIX)].rpartition(".")[2].partition(_PID_SEPARATOR)
    if not separator or not pid.isdigit():
        return False  # an older msau's name, without the writer: nothing can still be writing it
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_leftovers(targets: Iterable[str | Path], dead_writers_only: bool = False) -> int:
    """Remove temporaries that atomic_path left beside targets (a process killed mid-write); returns how many.

    Only another process's work can leave one (an error in this process removes its own), so call this once
    no writer of these targets is left: after a job whose workers may have been killed. With dead_writers_only,
    a temporary whose writer still runs on this machine is kept: safe at the start of a run while another run
    writes into the same folder.
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
                if target in names and not (dead_writers_only and _writer_alive(name)):
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
    return removed


def unwritable_reason(path: str | Path, folder: bool = False) -> str | None:
    """Why ``path`` cannot be written as a file (or, with folder, made a folder to write in); None if it can.

    Checked before a long job, so that a bad output is a usage error at the start, not a crash at the end:
    the wrong kind of thing already there, or a nearest existing folder where no file can be created (probed
    with a temporary file: os.access says yes to root on a read-only mount).
    """
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        return "is a file, not a folder"
    if not folder and path.is_dir():
        return "is a folder, not a file"
    existing = next(p for p in (path if folder else path.parent, *path.absolute().parents) if p.exists())
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        return f"cannot write there ({error.strerror or error})"
    return None
