"""``make gpu-check``: what the first machine with an NVIDIA GPU should run, in one command and under 10 minutes.

1. the gpu- and tensorrt-marked tests (pytest -m "gpu or tensorrt");
2. the FP16 TensorRT engine of the shipped model, built and gated by msau.export.export (what msau-export does);
3. engine, ONNX Runtime CUDA and torch CUDA (fp32 and fp16 autocast) against ONNX Runtime CPU fp32 on the
   verification photos: output PSNR, and image PSNR against the photos (network output decoded at full
   resolution, as msau-export's gates measure it) with its difference to the reference's;
4. their times at 256², batch 1 and 8 (host to host, median), and trtexec's on the same plan where it exists;
5. one results file (JSON), and a line for everything it could not run, saying why.

Without a GPU every step says "skipped: no NVIDIA GPU" and the exit code is 0; 1 means a check failed.
``python -m msau.export.gpu_check --out gpu-check.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from msau.runtime.atomic import write_text_atomic

BUDGET_S = 540  # 10 minutes with room for the install and the results file
TEST_TIMEOUT_S = 240
SIZE = 256
BATCHES = (1, 8)
RUNS = 20
OK, SKIPPED, FAILED = "ok", "skipped", "failed"


def nvidia_gpu() -> str | None:
    """The first GPU nvidia-smi lists, or None without a driver or a GPU."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [line for line in listed.stdout.splitlines() if line.startswith("GPU ")]
    return lines[0] if listed.returncode == 0 and lines else None


class Check:
    """The results document and the clock; every step records ok / skipped / failed with a reason."""

    def __init__(self, budget_s: float) -> None:
        self.started = time.perf_counter()
        self.budget_s = budget_s
        self.results: dict = {"steps": {}}

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.started)

    def record(self, step: str, status: str, **fields) -> None:
        self.results["steps"][step] = {"status": status, **fields}
        detail = fields.get("reason") or fields.get("summary") or ""
        print(f"gpu-check: {step}: {status}{': ' + str(detail) if detail else ''}", flush=True)

    def run(self, step: str, action: Callable[[], dict], needs_s: float = 30) -> dict | None:
        """Run a step, recording its fields or why it could not run; None unless it succeeded."""
        if self.left() < needs_s:
            self.record(step, SKIPPED, reason=f"time budget: {self.left():.0f} s left of {self.budget_s} s")
            return None
        began = time.perf_counter()
        try:
            fields = action()
        except Skip as skip:
            self.record(step, SKIPPED, reason=str(skip))
            return None
        except Exception as error:  # a failed check is reported in one line and the next step still runs
            self.record(step, FAILED, reason=f"{type(error).__name__}: {error}".splitlines()[0])
            return None
        self.record(step, OK, seconds=round(time.perf_counter() - began, 1), **fields)
        return fields


class Skip(Exception):
    """A step that cannot run here (a missing package or tool); the message says which and how to get it."""


def run_marked_tests(root: Path) -> dict:
    command = [sys.executable, "-m", "pytest", "-q", "-m", "gpu or tensorrt", "-p", "no:cacheprovider", "tests"]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=TEST_TIMEOUT_S)
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    if done.returncode not in (0, 5):  # 5: nothing collected
        raise RuntimeError(f"pytest -m 'gpu or tensorrt': {summary}")
    return {"summary": summary, "skips": [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]}


def build_engine(folder: Path) -> dict:
    from msau.export import ExportOptions, export
    from msau.runtime.artifacts import ENGINE_SUFFIX

    try:
        import tensorrt  # noqa: F401
    except ImportError:
        raise Skip("TensorRT is not installed: pip install 'msau[tensorrt]'") from None
    artifacts = export(None, ExportOptions(out=folder, fp16=True, engine=True))
    engine = next(a for a in artifacts if a.path.suffix == ENGINE_SUFFIX)
    return {"engine": engine.path.name, "figure": engine.figure, "build_s": round(engine.seconds, 1),
            "summary": f"{engine.path.name}: {engine.figure}"}


def runners(folder: Path) -> dict[str, Callable[[], object]]:
    """Backends to compare, by name: each opens when called (an unavailable one raises)."""
    from msau.runtime.artifacts import ENGINE_SUFFIX, ONNX_SUFFIX, artifact_path
    from msau.runtime.backends.base import open_backend
    from msau.runtime.models import shipped_model

    onnx = artifact_path(folder, "msau-tiny", ONNX_SUFFIX)
    onnx = onnx if onnx.is_file() else shipped_model(ONNX_SUFFIX)
    engine = artifact_path(folder, "msau-tiny", ENGINE_SUFFIX, "fp16")
    checkpoint = shipped_model(".safetensors")
    return {
        "tensorrt/fp16": lambda: open_backend("tensorrt", engine, "fp16"),
        "onnxruntime-cuda/fp32": lambda: open_backend("onnxruntime", onnx, "fp32", device="cuda"),
        "torch-cuda/fp32": lambda: open_backend("torch", checkpoint, "fp32", device="cuda"),
        "torch-cuda/fp16": lambda: open_backend("torch", checkpoint, "fp16", device="cuda"),
    }


def compare_and_time(opener: Callable[[], object], data, reference: np.ndarray) -> dict:
    from msau.benchmarks.latency import make_input, timing_summary
    from msau.export.checks import output_psnr
    from msau.export.samples import image_psnr
    from msau.runtime.backends.base import BackendError

    try:
        backend = opener()
    except (BackendError, ImportError, FileNotFoundError) as error:
        raise Skip(str(error).splitlines()[0]) from None
    with backend:
        ab = backend.infer(data.inputs)  # (N, 2, 256, 256)
        psnr_ref, psnr_ours = image_psnr(reference, data), image_psnr(ab, data)
        fields = {"output_psnr_db": round(output_psnr(reference, ab), 2), "image_psnr_db": round(psnr_ours, 3),
                  "image_psnr_delta_db": round(psnr_ours - psnr_ref, 3), "timings": {}}
        for batch in BATCHES:
            x = make_input(batch, SIZE)
            backend.infer(x)  # warm-up: kernels, buffers, autotuning
            samples = []
            for _ in range(RUNS):
                began = time.perf_counter()
                backend.infer(x)
                samples.append(time.perf_counter() - began)
            timing = timing_summary(samples, batch)
            fields["timings"][f"batch{batch}"] = {"ms_per_image_p50": round(timing["per_image_ms"]["p50"], 3),
                                                 "images_per_s": round(timing["images_per_s"], 1)}
    fields["summary"] = (f"output {fields['output_psnr_db']} dB, image {fields['image_psnr_delta_db']:+.3f} dB vs ORT CPU "
                         f"fp32; {fields['timings']['batch1']['ms_per_image_p50']} ms/img at batch 1")
    return fields


def trtexec_timing(engine: Path) -> dict:
    tool = shutil.which("trtexec") or next((str(p) for p in Path("/usr/src/tensorrt/bin").glob("trtexec")), None)
    if tool is None:
        raise Skip("trtexec is not on PATH (it ships with the TensorRT tarball and NGC containers, not the pip wheels)")
    if not engine.is_file():
        raise Skip(f"no engine to time ({engine.name} was not built)")
    command = [tool, f"--loadEngine={engine}", f"--shapes=input:1x4x{SIZE}x{SIZE}", "--iterations=200", "--duration=0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    match = re.search(r"GPU Compute Time: .*?median = ([\d.]+) ms", done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"trtexec exit {done.returncode}: {(done.stdout + done.stderr).strip().splitlines()[-1:]}")
    return {"gpu_compute_ms_median": float(match.group(1)), "summary": f"GPU compute {match.group(1)} ms median, batch 1"}


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 when every step passed or was skipped for a stated reason, 1 when a check failed."""
    parser = argparse.ArgumentParser(prog="python -m msau.export.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-check.json"), help="results file (default: %(default)s)")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds for all steps (default: %(default)s)")
    args = parser.parse_args(argv)
    check = Check(args.budget)
    gpu = nvidia_gpu()
    check.results["gpu"] = gpu
    steps = ["tests", "engine", *runners(Path(".")), "trtexec"]
    if gpu is None:
        for step in steps:
            check.record(step, SKIPPED, reason="no NVIDIA GPU (nvidia-smi lists none)")
    else:
        from msau.export.checks import run_onnx
        from msau.export.samples import default_verification_set
        from msau.runtime.artifacts import ENGINE_SUFFIX, artifact_path

        root = Path(__file__).resolve().parent.parent
        check.run("tests", lambda: run_marked_tests(root), needs_s=60)
        with tempfile.TemporaryDirectory(prefix="msau-gpu-check-") as folder:
            folder = Path(folder)
            check.run("engine", lambda: build_engine(folder), needs_s=180)
            data = default_verification_set(SIZE)
            from msau.runtime.models import shipped_model

            reference = run_onnx(shipped_model(".onnx"), data.inputs)  # ONNX Runtime CPU fp32
            check.results["reference"] = {"runner": "onnxruntime cpu fp32", "source": data.source}
            for name, opener in runners(folder).items():
                check.run(name, lambda opener=opener: compare_and_time(opener, data, reference))
            engine = artifact_path(folder, "msau-tiny", ENGINE_SUFFIX, "fp16")
            check.run("trtexec", lambda: trtexec_timing(engine), needs_s=60)
    check.results["seconds"] = round(time.perf_counter() - check.started, 1)
    write_text_atomic(args.out, json.dumps(check.results, indent=2) + "\n")
    print(f"gpu-check: results in {args.out} ({check.results['seconds']} s)")
    return 1 if any(s["status"] == FAILED for s in check.results["steps"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
