"""What msau-run was asked to colorize: inputs from files, folders and globs; output, hint and reference paths.

Each input keeps its path relative to the folder it was found in, so that ``-r`` mirrors subfolders in the
output folder (and looks for hints in the same subfolder of the hints folder).
"""

from __future__ import annotations

import fnmatch
import glob
import os
from dataclasses import dataclass
from pathlib import Path

from msau.runtime.batch import FAILED, SKIPPED, Job, Result
from msau.runtime.hints import HINT_SUFFIXES
from msau.runtime.image_io import IMAGE_SUFFIXES

GLOB_CHARACTERS = "*?["


@dataclass(frozen=True)
class Input:
    """An input photo and its path relative to the folder (or glob) that named it."""

    path: Path
    relative: Path


def _inside(path: Path, folder: Path | None) -> bool:
    return folder is not None and (path == folder or folder in path.parents)


def scan_folder(folder: Path, recursive: bool, exclude: Path | None = None) -> list[Input]:
    """Image files in folder (and below it with recursive), sorted; hidden files and exclude's content skipped."""
    found = []
    for root, dirs, files in os.walk(folder):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _inside((root_path / d).resolve(), exclude))
        for name in sorted(files):
            path = root_path / name
            if name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            found.append(Input(path, path.relative_to(folder)))
        if not recursive:
            break
    return found


def expand_glob(pattern: str) -> list[str]:
    """The paths a glob matches, sorted, as glob.glob(recursive=True) finds them, but ``**`` never follows a
    symlinked folder: glob.glob does, and never returns on a tree with symlink cycles."""
    if "**" not in pattern:
        return sorted(glob.glob(pattern))
    parts = Path(pattern).parts
    first = next(i for i, part in enumerate(parts) if any(c in part for c in GLOB_CHARACTERS))
    root = Path(*parts[:first]) if first else Path(os.curdir)
    rest = parts[first:]
    hidden_wanted = any(part.startswith(".") for part in rest)
    found = []
    for folder, dirs, files in os.walk(root):  # followlinks=False: each real folder once, cycles or not
        if not hidden_wanted:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        relative = Path(folder).relative_to(root).parts
        found += [os.path.join(folder, name) for name in dirs + files if _glob_match(rest, relative + (name,))]
    return sorted(os.path.normpath(path) if not first else path for path in found)


def _glob_match(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """glob's rules for path components: ``**`` is any number of them, and no wildcard matches a leading dot."""
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(
            _glob_match(rest, parts[i:]) for i in range(len(parts) + 1) if not any(p.startswith(".") for p in parts[:i])
        )
    if not parts or (parts[0].startswith(".") and not head.startswith(".")):
        return False
    return fnmatch.fnmatchcase(parts[0], head) and _glob_match(rest, parts[1:])


def discover(arguments: list[str], recursive: bool = False, exclude: Path | None = None) -> tuple[list[Input], list[str]]:
    """(inputs, arguments that matched nothing). A file named explicitly is taken whatever its suffix.

    exclude (the output folder) is never scanned, so that results of an earlier run are not colorized again.
    """
    inputs: list[Input] = []
    unmatched: list[str] = []
    exclude = exclude.resolve() if exclude is not None else None
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            inputs += scan_folder(path, recursive, exclude)
        elif path.is_file():
            inputs.append(Input(path, Path(path.name)))
        elif any(c in argument for c in GLOB_CHARACTERS):
            matches = expand_glob(argument)
            for match in map(Path, matches):
                if match.is_dir():
                    inputs += scan_folder(match, recursive, exclude)
                elif match.suffix.lower() in IMAGE_SUFFIXES and not _inside(match.resolve(), exclude):
                    inputs.append(Input(match, Path(match.name)))
            if not matches:
                unmatched.append(argument)
        else:
            unmatched.append(argument)
    # The same file named twice (a folder and a glob over it) is colorized once.
    unique: dict[Path, Input] = {}
    for item in inputs:
        unique.setdefault(item.path.resolve(), item)
    return list(unique.values()), unmatched


def companion(folder: Path, relative: Path, suffixes: tuple[str, ...]) -> Path | None:
    """``folder/<relative dir>/<stem><suffix>`` (then ``folder/<stem><suffix>``) for the first suffix that exists."""
    for base in (folder / relative.parent, folder):
        for suffix in suffixes:
            candidate = base / f"{relative.stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def plan_jobs(
    inputs: list[Input],
    out_dir: Path,
    suffix: str = ".png",
    hints: Path | None = None,
    references: Path | None = None,
    side_by_side: bool = False,
    skip_existing: bool = False,
) -> tuple[list[Job], list[Result]]:
    """(jobs to run, results already known: skipped outputs and refused ones).

    hints is one file (one input) or a folder of ``<stem>.json`` / ``<stem>.png`` (JSON first); an input
    without a hint file there runs without hints. An output that would overwrite an input, or that two
    inputs would both write, is refused.
    """
    sources = {item.path.resolve(): item.path for item in inputs}
    taken: dict[Path, Path] = {}
    jobs: list[Job] = []
    known: list[Result] = []
    for item in inputs:
        output = out_dir / item.relative.parent / f"{item.relative.stem}{suffix}"
        compare = output.with_name(f"{item.relative.stem}_compare{suffix}") if side_by_side else None
        hint_file = None
        if hints is not None:
            hint_file = hints if hints.is_file() else companion(hints, item.relative, HINT_SUFFIXES)
        reference = companion(references, item.relative, IMAGE_SUFFIXES) if references is not None else None
        job = Job(item.path, output, hint_file, compare, reference)
        written = [p for p in (output, compare) if p is not None]
        clash = next((p for p in written if p.resolve() in sources), None)
        if clash is not None:
            known.append(Result(job, FAILED, f"{item.path}: output {clash} is an input file; choose another -o folder"))
            continue
        other = next((taken[p.resolve()] for p in written if p.resolve() in taken), None)
        if other is not None:
            known.append(Result(job, FAILED, f"{item.path}: output {output} would also be written for {other}; rename one of them"))
            continue
        for p in written:
            taken[p.resolve()] = item.path
        if skip_existing and all(p.is_file() for p in written):
            known.append(Result(job, SKIPPED, f"{output} exists"))
            continue
        jobs.append(job)
    return jobs, known
