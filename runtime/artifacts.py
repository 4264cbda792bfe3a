"""The one naming rule for model artifacts: ``<stem>[.<precision>]<suffix>``, fp32 unmarked.

msau-export names what it writes with it, and the runtime (Colorizer, ``auto``), the backends' callers and
msau-bench find files with it; nothing else spells an artifact name. For a stem ``msau-tiny``:

=========================  ================================================================
``msau-tiny.onnx``         FP32 ONNX, the reference graph
``msau-tiny.fp16.onnx``    FP16 inside, float32 I/O (``msau-export --fp16``)
``msau-tiny.int8.onnx``    INT8 (quantized) ONNX
``msau-tiny.engine``       TensorRT plan built from the FP32 ONNX (``.fp16.engine`` from the FP16 one),
                           with its sidecar ``<engine>.json`` (runtime/engine_sidecar.py)
``msau-tiny.xml`` + ``.bin``  OpenVINO IR of the FP32 ONNX (its weights may be stored in FP16)
``msau-tiny.safetensors``  the checkpoint (torch backend)
=========================  ================================================================

Standard library only: the runtime resolves files without numpy or torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REFERENCE_PRECISION = "fp32"  # unmarked in file names
MARKED_PRECISIONS = ("fp16", "bf16", "int8")
# Served only from a file of their own: a quantized graph cannot be made from the FP32 one at load (fp16 can:
# ONNX Runtime converts in memory; bf16 is a runtime setting of OpenVINO and torch).
OWN_FILE_PRECISIONS = ("int8",)
ONNX_SUFFIX = ".onnx"
ENGINE_SUFFIX = ".engine"
IR_SUFFIX = ".xml"
IR_WEIGHTS_SUFFIX = ".bin"
CHECKPOINT_SUFFIX = ".safetensors"
# Plans written by other tools (trtexec --saveEngine) are read when given, never written or searched for.
ENGINE_SUFFIXES = (ENGINE_SUFFIX, ".plan", ".trt")
WRITTEN_SUFFIXES = (ONNX_SUFFIX, IR_SUFFIX, CHECKPOINT_SUFFIX, ENGINE_SUFFIX)  # what searches look for
# The precisions a search without a precision tries, in order: FP16 engines are the fast accurate choice.
ENGINE_PREFERENCE = ("fp16", "fp32", "bf16")


@dataclass(frozen=True)
class ArtifactName:
    """What a file name says: stem, precision (fp32 when unmarked) and suffix (lower case)."""

    stem: str
    precision: str
    suffix: str


def artifact_filename(stem: str, suffix: str, precision: str = REFERENCE_PRECISION) -> str:
    """``<stem>.onnx`` for fp32, ``<stem>.<precision><suffix>`` otherwise (``msau-tiny.fp16.onnx``)."""
    if precision != REFERENCE_PRECISION and precision not in MARKED_PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of fp32, {', '.join(MARKED_PRECISIONS)}")
    return f"{stem}{suffix}" if precision == REFERENCE_PRECISION else f"{stem}.{precision}{suffix}"


def naming_pattern(stem: str, suffix: str) -> str:
    """The rule as a user reads it in a message: ``msau-tiny[.<precision>].engine``."""
    return f"{stem}[.<precision>]{suffix}"


def artifact_path(folder: str | Path, stem: str, suffix: str, precision: str = REFERENCE_PRECISION) -> Path:
    """Where an artifact of stem, suffix and precision lives in folder."""
    return Path(folder) / artifact_filename(stem, suffix, precision)


def parse_artifact(path: str | Path) -> ArtifactName:
    """Stem, precision and suffix of a file name: ``m.fp16.onnx`` -> (m, fp16, .onnx); ``m.onnx`` -> (m, fp32, .onnx).

    Only the last dot-separated word before the suffix is read as a precision, so stems may hold dots.
    """
    name = Path(path).name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        return ArtifactName(name, REFERENCE_PRECISION, "")
    base, dot, marker = stem.rpartition(".")
    if dot and base and marker.lower() in MARKED_PRECISIONS:
        return ArtifactName(base, marker.lower(), f".{suffix.lower()}")
    return ArtifactName(stem, REFERENCE_PRECISION, f".{suffix.lower()}")


def model_stem(path: str | Path) -> str:
    """The stem shared by every artifact of a model: ``msau-tiny.fp16.onnx`` -> ``msau-tiny``."""
    return parse_artifact(path).stem


def is_complete(path: Path) -> bool:
    """True if the artifact is on disk with the files it needs (an OpenVINO IR needs its .bin)."""
    if not path.is_file():
        return False
    return path.suffix.lower() != IR_SUFFIX or path.with_suffix(IR_WEIGHTS_SUFFIX).is_file()


def artifact_candidates(model: str | Path, suffixes: Sequence[str], precision: str) -> list[Path]:
    """Files beside model that could serve suffixes at precision, most specific first.

    For each suffix msau writes (in the order given: the caller's preference), ``<stem>.<precision><suffix>``
    (not for fp32), then each unmarked ``<stem><suffix>`` (not for OWN_FILE_PRECISIONS); then the model itself
    when its suffix is one of suffixes (a ``.plan`` from trtexec, say). A file marked with another precision is
    never a candidate.
    """
    model = Path(model)
    folder, stem = model.parent, model_stem(model)
    searched = [suffix.lower() for suffix in suffixes if suffix.lower() in WRITTEN_SUFFIXES]
    names: list[str] = []
    if precision != REFERENCE_PRECISION:
        names += [artifact_filename(stem, suffix, precision) for suffix in searched]
    own_file = precision in OWN_FILE_PRECISIONS
    if not own_file:
        names += [artifact_filename(stem, suffix) for suffix in searched]
    accepted = (precision,) if own_file else (REFERENCE_PRECISION, precision)
    if model.suffix.lower() in {s.lower() for s in suffixes} and parse_artifact(model).precision in accepted:
        names.append(model.name)
    unique = list(dict.fromkeys(names))
    return [folder / name for name in unique]


def resolve_artifact(model: str | Path, suffixes: Sequence[str], precision: str) -> Path | None:
    """The first complete candidate file (artifact_candidates), or None."""
    return next((path for path in artifact_candidates(model, suffixes, precision) if is_complete(path)), None)


def find_engine(model: str | Path, precision: str | None = None) -> Path | None:
    """The TensorRT engine for a model: the model itself if it is a plan file, else ``<stem>[.<precision>].engine``
    beside it (precision None: ENGINE_PREFERENCE order)."""
    model = Path(model)
    if model.suffix.lower() in ENGINE_SUFFIXES:
        return model if model.is_file() else None
    for wanted in [precision] if precision else list(ENGINE_PREFERENCE):
        candidate = artifact_path(model.parent, model_stem(model), ENGINE_SUFFIX, wanted)
        if candidate.is_file():
            return candidate
    return None

