"""Writing result files atomically (temp file in the same folder, then os.replace), and strict JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

from msau.benchmarks.schema import Document
from msau.runtime.atomic import write_text_atomic

NON_FINITE = {math.inf: "inf", -math.inf: "-inf"}


def jsonable(value):
    """value with non-finite floats spelled as strings ("inf", "-inf", "nan") and paths and tuples made plain,
    so that the file is strict JSON that any parser reads (PSNR of identical images is inf)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else NON_FINITE[value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return jsonable(value.item())
    return value


def read_float(value) -> float | None:
    """The float a JSON field holds, reading back the "inf"/"-inf"/"nan" spellings; None for null."""
    if value is None:
        return None
    if isinstance(value, str):
        return float(value)
    return float(value)


def write_json(path: str | Path, document: dict) -> Path:
    """Write a result document as strict, indented JSON, atomically."""
    text = json.dumps(jsonable(document), indent=2, allow_nan=False) + "\n"
    return write_text_atomic(path, text)


def read_json(path: str | Path) -> dict:
    """A result document written by write_json; ValueError naming the file if it is not one."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({error.strerror or error})") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(document, dict) or document.get("kind") not in ("latency", "quality", "compare"):
        raise ValueError(
            f"{path}: not an msau-bench result (expected a JSON object with kind latency, quality or compare)"
        )
    return document


def read_document(path: str | Path) -> Document:
    """The typed result document of a file written by write_json (read_json's checks and errors)."""
    return Document.from_json(read_json(path))
