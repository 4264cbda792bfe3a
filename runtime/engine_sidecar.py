"""The JSON sidecar beside every TensorRT engine: what it was built from, with and for.

An engine (a plain TensorRT plan file, loadable by trtexec) only runs with the TensorRT version and on the GPU
it was built for. The sidecar ``<engine>.json`` records those, the precision, the optimisation profile, the
ONNX file's sha256, the I/O contract version and the build options, so that

- the runtime refuses a mismatched engine with a message saying how to rebuild (check_engine_compatible), and
- msau-export skips a rebuild when an engine with the same key already exists (engine_key).

Standard library only: the runtime reads it without torch or numpy.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from msau.runtime.atomic import write_text_atomic
from msau.runtime.contract import CONTRACT_VERSION, INPUT_NAME, OUTPUT_NAME

SIDECAR_FORMAT = "msau-tensorrt-engine"
SIDECAR_SCHEMA = 1
SIDECAR_SUFFIX = ".json"
HARDWARE_COMPATIBILITY_LEVELS = ("none", "same_compute_capability", "ampere_plus")
DEFAULT_REBUILD_COMMAND = "msau-export --out DIR --engine [--fp16]"

REQUIRED_KEYS = (
    "format",
    "schema",
    "contract_version",
    "tensorrt_version",
    "gpu_name",
    "compute_capability",
    "precision",
    "profile",
    "onnx_sha256",
    "build_options",
    "key",
)


def sidecar_path(engine_path: str | Path) -> Path:
    """Where an engine's sidecar lives: the engine's path with ``.json`` appended (model.engine.json)."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + SIDECAR_SUFFIX)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def engine_key(
    onnx_sha256: str,
    tensorrt_version: str,
    gpu_name: str,
    compute_capability: str,
    precision: str,
    profile: dict,
    build_options: dict,
) -> str:
    """Hex sha256 of everything that determines an engine: equal keys mean a rebuild would be redundant."""
    fields = {
        "onnx_sha256": onnx_sha256,
        "tensorrt_version": str(tensorrt_version),
        "gpu_name": str(gpu_name),
        "compute_capability": str(compute_capability),
        "precision": precision,
        "profile": profile,
        "build_options": build_options,
        "contract_version": CONTRACT_VERSION,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def make_sidecar(
    engine_path: str | Path,
    *,
    onnx_sha256: str,
    tensorrt_version: str,
    gpu_name: str,
    compute_capability: str,
    precision: str,
    profile: dict,
    build_options: dict,
    extra: dict | None = None,
) -> dict:
    """The sidecar document of an engine file that exists (its sha256 is recorded too)."""
    engine_path = Path(engine_path)
    return {
        "format": SIDECAR_FORMAT,
        "schema": SIDECAR_SCHEMA,
        "contract_version": CONTRACT_VERSION,
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "engine_file": engine_path.name,
        "engine_sha256": file_sha256(engine_path),
        "tensorrt_version": str(tensorrt_version),
        "gpu_name": str(gpu_name),
        "compute_capability": str(compute_capability),
        "precision": precision,
        "profile": profile,
        "onnx_sha256": onnx_sha256,
        "build_options": build_options,
        "key": engine_key(onnx_sha256, tensorrt_version, gpu_name, compute_capability, precision, profile, build_options),
        **(extra or {}),
    }


def write_sidecar(engine_path: str | Path, sidecar: dict) -> Path:
    """Write sidecar as ``<engine>.json`` atomically (temp file in the same folder, then os.replace)."""
    path = sidecar_path(engine_path)
    missing = [key for key in REQUIRED_KEYS if key not in sidecar]
    if missing:
        raise ValueError(f"{path}: sidecar lacks {', '.join(missing)}")
    write_text_atomic(path, json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    return path


def _rebuild_hint(sidecar: dict) -> str:
    return f"rebuild it on this machine: {sidecar.get('rebuild_command') or DEFAULT_REBUILD_COMMAND}"


def read_sidecar(engine_path: str | Path) -> dict:
    """The sidecar of an engine as a dict; ValueError naming the file if it is missing, unreadable or incomplete."""
    path = sidecar_path(engine_path)
    try:
        sidecar = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"{path}: no sidecar beside the engine {Path(engine_path).name}; msau cannot tell which TensorRT and GPU "
            f"it was built for. {_rebuild_hint({})} (it writes both files)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable engine sidecar ({error}); {_rebuild_hint({})}") from error
    if not isinstance(sidecar, dict) or sidecar.get("format") != SIDECAR_FORMAT:
        raise ValueError(f"{path}: not an msau engine sidecar (format is not {SIDECAR_FORMAT!r}); {_rebuild_hint({})}")
    missing = [key for key in REQUIRED_KEYS if key not in sidecar]
    if missing:
        raise ValueError(f"{path}: engine sidecar lacks {', '.join(missing)}; {_rebuild_hint(sidecar)}")
    if sidecar["schema"] > SIDECAR_SCHEMA:
        raise ValueError(
            f"{path}: sidecar schema {sidecar['schema']} is newer than this msau reads ({SIDECAR_SCHEMA}); upgrade msau "
            f"or {_rebuild_hint(sidecar)}"
        )
    return sidecar


def _major(compute_capability: str) -> int:
    try:
        return int(str(compute_capability).split(".")[0])
    except ValueError:
        return -1


def check_engine_compatible(sidecar: dict, tensorrt_version: str, gpu_name: str, compute_capability: str) -> None:
    """Raise ValueError (saying how to rebuild) unless the engine can run with this TensorRT on this GPU.

    TensorRT must be the very version that built the engine. The GPU must be the same model, unless the engine
    was built with a hardware compatibility level: ``same_compute_capability`` needs the same compute
    capability, ``ampere_plus`` any GPU of compute capability 8.0 or newer.
    """
    engine = sidecar.get("engine_file", "engine")
    built = (
        f"built with TensorRT {sidecar['tensorrt_version']} for {sidecar['gpu_name']} "
        f"(compute capability {sidecar['compute_capability']})"
    )
    here = f"this machine has TensorRT {tensorrt_version} and {gpu_name} (compute capability {compute_capability})"
    if sidecar.get("contract_version") != CONTRACT_VERSION:
        raise ValueError(
            f"{engine}: built for I/O contract version {sidecar.get('contract_version')}, this msau uses "
            f"{CONTRACT_VERSION}; {_rebuild_hint(sidecar)}"
        )
    if str(sidecar["tensorrt_version"]) != str(tensorrt_version):
        raise ValueError(
            f"{engine}: {built}, but {here}; an engine runs only with the TensorRT version that built it. "
            f"{_rebuild_hint(sidecar)}"
        )
    level = str(sidecar.get("build_options", {}).get("hardware_compatibility_level", "none"))
    if level == "ampere_plus":
        fits = _major(compute_capability) >= 8
        rule = "it was built for Ampere or newer GPUs (compute capability 8.0+)"
    elif level == "same_compute_capability":
        fits = str(sidecar["compute_capability"]) == str(compute_capability)
        rule = "it was built for GPUs of the same compute capability"
    else:
        fits = str(sidecar["gpu_name"]) == str(gpu_name) and str(sidecar["compute_capability"]) == str(compute_capability)
        rule = "an engine runs only on the GPU model it was built on"
    if not fits:
        raise ValueError(f"{engine}: {built}, but {here}; {rule}. {_rebuild_hint(sidecar)}")
