"""Facts about the machine a benchmark ran on: CPU, cores, memory, GPU and driver, library versions, load.

Nothing here imports a heavy package: versions come from installed-package metadata, the GPU from
nvidia-smi, and CUDA details only from a torch that is already imported.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from msau.runtime.backends.auto import cpuinfo_processors

# The distributions whose versions decide the numbers; those not installed are left out.
LIBRARIES = (
    "msau",
    "numpy",
    "opencv-python-headless",
    "opencv-python",
    "onnxruntime",
    "onnxruntime-gpu",
    "openvino",
    "torch",
    "tensorrt",
    "cuda-python",
    "onnx",
    "onnxconverter-common",
    "matplotlib",
    "scikit-image",
)
# CPU features that decide which precisions run fast (bf16 needs AVX512-BF16 or AMX).
CPU_FLAGS = (
    "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"
)
NVIDIA_SMI_TIMEOUT_S = 10


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the OS tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cpu_facts(cpuinfo: list[dict[str, str]] | None = None) -> dict:
    """CPU model, logical and physical cores, and the vector/matrix features that matter for inference."""
    cpuinfo = cpuinfo_processors() if cpuinfo is None else cpuinfo
    model = next((p["model name"] for p in cpuinfo if "model name" in p), "") or platform.processor() or "unknown"
    cores = {(p.get("physical id", "0"), p["core id"]) for p in cpuinfo if "core id" in p}
    flags = set(cpuinfo[0].get("flags", "").split()) if cpuinfo else set()
    return {
        "model": model,
        "logical_cores": os.cpu_count(),
        "physical_cores": len(cores) or None,
        "usable_cores": usable_cores(),
        "features": [flag for flag in CPU_FLAGS if flag in flags],
    }


def memory_gb(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    """Total memory in GiB, or None where /proc/meminfo is missing."""
    try:
        for line in meminfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def gpu_facts() -> list[dict]:
    """Name, driver and memory of each NVIDIA GPU that nvidia-smi lists; empty without one."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    query = "--query-gpu=name,driver_version,memory.total,compute_cap"
    try:
        done = subprocess.run(
            [smi, query, "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if done.returncode != 0:
        return []
    gpus = []
    for line in done.stdout.strip().splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) >= 3:
            gpus.append(
                {
                    "name": parts[0],
                    "driver": parts[1],
                    "memory_gb": round(float(parts[2]) / 1024, 1) if parts[2].replace(".", "", 1).isdigit() else None,
                    "compute_capability": parts[3] if len(parts) > 3 else None,
                }
            )
    return gpus


def cuda_facts() -> dict:
    """CUDA and cuDNN versions as an already-imported torch sees them (nothing is imported for this)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    if not torch.version.cuda:
        return {}  # a CPU-only torch
    facts = {"torch_cuda": torch.version.cuda}
    if torch.cuda.is_available():
        facts["cudnn"] = torch.backends.cudnn.version()
        facts["torch_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return facts


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    """Installed versions of the libraries that matter, from package metadata (no imports)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def thread_settings() -> dict[str, str]:
    """Thread-count environment variables that were set (they change CPU results)."""
    keys = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    return {key: os.environ[key] for key in keys if key in os.environ}


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages: other work on the machine makes CPU timings noisy."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def host_facts() -> dict:
    """Everything a reader needs to judge (and reproduce) a benchmark run on this machine."""
    return {
        "os": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_facts(),
        "memory_gb": memory_gb(),
        "gpus": gpu_facts(),
        "cuda": cuda_facts(),
        "libraries": library_versions(),
        "threads_env": thread_settings(),
        "load_average": load_average(),
    }


def has_nvidia_gpu(facts: dict | None = None) -> bool:
    """True if the host facts list an NVIDIA GPU."""
    return bool((facts if facts is not None else {"gpus": gpu_facts()}).get("gpus"))
