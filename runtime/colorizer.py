"""The Python API: ``Colorizer(model, backend, precision, device, size)(image, hints) -> RGB uint8``.

The network runs on a square ``size`` x ``size`` copy of the photo's L* (and the hints, scaled the same way),
whatever the photo's aspect ratio, so that photos of any sizes batch together; its ab is enlarged back to the
photo's own size and joined with the photo's own full-resolution L*.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence, Union

import numpy as np

from msau.runtime.allocator import keep_temporaries_on_heap
from msau.runtime.backends.base import BACKENDS, PRECISIONS, Backend, BackendError, backend_options, open_backend
from msau.runtime.contract import DEFAULT_SIZE, SIZE_MULTIPLE
from msau.runtime.encoding import DEFAULT_UPSAMPLING, encode, finish
from msau.runtime.gray_formula import LIGHTNESS, check_choice, is_gray, luma_weights, resolve
from msau.runtime.hints import HintError, Hints, hints_from_rgba, load_hints, parse_hints_document
from msau.runtime.image_io import check_float_range
from msau.runtime.limits import DEFAULT_MAX_PIXELS, check_max_pixels

BACKEND_CHOICES = ("auto", *BACKENDS)  # what users may ask for: the registered backends, or auto

# What a caller may pass as hints: nothing, a Hints object, a hint file, a JSON document or a painted RGBA array.
HintsLike = Union[None, Hints, str, Path, dict, np.ndarray]


@dataclass
class Prepared:
    """One photo ready for the network: contract input (4, size, size), its full-resolution L* (H, W) and the
    formula its gray was made by (msau.runtime.gray_formula; lightness, the contract's, for colour photos)."""

    x: np.ndarray
    lightness: np.ndarray
    gray_formula: str = LIGHTNESS


def check_image(image: np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The image itself if it is (H, W) gray or (H, W, 1|3|4) uint8/uint16/float in [0, 1], at most max_pixels
    pixels; ValueError saying what is wrong."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a numpy array image, got {type(image).__name__}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"expected an image of shape (H, W) or (H, W, 3), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image of shape {image.shape}")
    if image.dtype not in (np.uint8, np.uint16) and not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"unsupported image dtype {image.dtype}: use uint8, uint16 or float in [0, 1]")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ValueError(
            f"a {image.shape[1]}x{image.shape[0]} image is over the limit of {max_pixels:,} pixels; "
            "raise it with max_pixels= if the machine has the memory"
        )
    if np.issubdtype(image.dtype, np.floating):
        check_float_range(image)
    return image


def as_hints(hints: HintsLike, height: int, width: int) -> Hints:
    """A validated Hints object for an image of height x width; HintError naming the source if a point is outside."""
    if hints is None:
        return Hints.empty()
    if isinstance(hints, (str, Path)):
        return load_hints(hints, (height, width))
    if isinstance(hints, dict):
        parsed = parse_hints_document(hints)
        parsed.validate(height, width, "hints")
        return parsed
    if isinstance(hints, np.ndarray):
        if hints.ndim != 3 or hints.shape[2] != 4 or hints.shape[:2] != (height, width):
            raise HintError(f"painted hints must be an RGBA array of shape ({height}, {width}, 4), got {hints.shape}")
        return hints_from_rgba(hints)
    if isinstance(hints, Hints):
        hints.validate(height, width, "hints")
        return hints
    raise TypeError(f"hints must be None, Hints, a path, a JSON dict or an RGBA array, not {type(hints).__name__}")


def resolve_model(model: str | Path | None, backend: str) -> Path:
    """The model file for a backend: the shipped default for None (its .safetensors for torch)."""
    from msau.runtime.models import shipped_model

    if model is not None:
        path = Path(model)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such model file")
        return path
    return shipped_model(".safetensors" if backend == "torch" else ".onnx")


def _engine_for(path: Path, precision: str | None) -> tuple[Path, str]:
    """The TensorRT engine for a model path (itself, or the one msau-export wrote beside it) and its precision."""
    from msau.runtime.artifacts import find_engine
    from msau.runtime.backends.auto import engine_precision

    engine = find_engine(path, precision)
    if engine is None:
        raise FileNotFoundError(
            f"{path}: no TensorRT engine{' for ' + precision if precision else ''} beside it; "
            "build one on this machine with msau-export --engine"
        )
    return engine, precision or engine_precision(engine) or "fp32"


def _check_device(asked: str | None, chosen: str | None) -> None:
    """BackendError if a GPU device was asked for and auto could only find a CPU backend (never a silent CPU run)."""
    on_cpu = (chosen or "cpu").lower().startswith("cpu")
    if asked is not None and not asked.lower().startswith("cpu") and on_cpu:
        raise BackendError(
            f"device {asked!r} was asked for, but no backend here runs on it (no NVIDIA GPU visible, or neither "
            "TensorRT nor onnxruntime-gpu installed: pip install 'msau[gpu]'); leave the device out to run on the CPU"
        )


def resolve_for_backend(path: Path, backend: str, precision: str) -> Path:
    """The file a backend opens for a model path and precision, by msau's one naming rule (the IR beside an ONNX
    for openvino, ``<stem>.fp16.onnx`` for onnxruntime fp16, ``<stem>.safetensors`` for torch); path itself if
    none is there (the backend then says what is wrong with it)."""
    from msau.runtime.artifacts import resolve_artifact
    from msau.runtime.backends.base import backend_class

    return resolve_artifact(path, backend_class(backend).model_suffixes, precision) or path


class Colorizer:
    """Colorizes photos with MSAU-Net on the chosen backend.

    ``Colorizer(model=None, backend="auto", precision=None, device=None, size=256)``: model None is the
    shipped model; backend one of auto, tensorrt, onnxruntime, openvino, torch; precision None takes the
    backend's fastest accurate choice (bf16 for OpenVINO on CPUs that have it, the engine's own for TensorRT,
    fp32 otherwise); size is the square network size (a multiple of 16); refine corrects the network's colours by
    their errors at the hints and spreads the hints' colours along regions of even lightness, with them as the
    prior (msau.runtime.refine; on by default); max_pixels refuses larger photos (msau.runtime.limits); gray_from
    says how gray photos were made from colour: "lightness" (DESIGN.md's contract, v read as (v, v, v)), "rec601"
    or "rec709" luma (then the output, made gray by that formula, is the input again), or "auto": told by the
    single-pixel hints' colours (msau.runtime.gray_formula), the contract unless a luma formula clearly fits. Extra
    keyword options go to the backend (e.g. threads=4, streams=1 for OpenVINO); a name no backend takes is an
    error, and with backend="auto" options of the backends not chosen are left out. Use as a context manager or
    call close(). On glibc it raises the process's mmap threshold to 4 MB (msau.runtime.allocator: the finish's
    temporaries were otherwise mapped afresh on every call beside OpenVINO INT8, 1.4-1.7x its time).
    """

    def __init__(
        self,
        model: str | Path | None = None,
        backend: str = "auto",
        precision: str | None = None,
        device: str | None = None,
        size: int = DEFAULT_SIZE,
        upsampling: str = DEFAULT_UPSAMPLING,
        refine: bool = True,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        gray_from: str = "auto",
        **options,
    ) -> None:
        if backend not in BACKEND_CHOICES:
            raise BackendError(f"unknown backend {backend!r}; choose one of {', '.join(BACKEND_CHOICES)}")
        if precision is not None and precision not in PRECISIONS:
            raise BackendError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
        if size <= 0 or size % SIZE_MULTIPLE:
            raise ValueError(f"size must be a positive multiple of {SIZE_MULTIPLE}, got {size}")
        known = set().union(*(backend_options(name) for name in BACKENDS))
        if set(options) - known:
            raise ValueError(
                f"unknown option {', '.join(map(repr, sorted(set(options) - known)))}; the backends take {', '.join(sorted(known))}"
            )
        self.size = int(size)
        self.upsampling = upsampling
        self.refine = refine
        self.max_pixels = check_max_pixels(max_pixels)
        check_choice(gray_from)
        self.gray_from = gray_from
        path = resolve_model(model, backend)
        if backend == "auto":
            from msau.runtime.backends.auto import choose

            choice = choose(path, precision, device)
            _check_device(device, choice.device)
            backend, path, precision, device = choice.backend, choice.model_path, choice.precision, choice.device
            options = {k: v for k, v in options.items() if k in backend_options(backend)}
        elif backend == "tensorrt":
            path, precision = _engine_for(path, precision)
        if backend != "tensorrt":
            path = resolve_for_backend(path, backend, precision or "fp32")
        self.backend: Backend = open_backend(backend, path, precision or "fp32", device, **options)
        keep_temporaries_on_heap()

    def describe(self) -> str:
        """What runs: backend, precision, device and model file."""
        return f"{self.backend.describe()} on {self.backend.model_path.name}, {self.size}x{self.size}"

    def prepare(self, image: np.ndarray, hints: HintsLike = None) -> Prepared:
        """Encode one photo and its hints for the network (CPU work, safe to run in threads)."""
        image = check_image(image, self.max_pixels)
        parsed = as_hints(hints, image.shape[0], image.shape[1])
        x, lightness = encode(image, parsed, (self.size, self.size))
        return Prepared(x, lightness, self.gray_formula_for(lambda: is_gray(image), lightness, parsed))

    def gray_formula_for(self, gray: Callable[[], bool], lightness: np.ndarray, hints: Hints) -> str:
        """The formula a photo (gray() tells whether it is gray; its L* (H, W), its hints) is served by, as
        gray_from says."""
        return resolve(self.gray_from, gray, lightness, hints)

    def infer(self, prepared: Sequence[Prepared]) -> np.ndarray:
        """ab (N, 2, size, size) for prepared photos, in one backend call."""
        x = np.stack([p.x for p in prepared])  # (N, 4, size, size)
        return self.backend.infer(x)

    def finish(self, ab: np.ndarray, prepared: Prepared) -> np.ndarray:
        """The colour photo (H, W, 3) uint8 from the network's ab (2, size, size) and the photo's own L*;
        BackendError if the network gave NaN or infinite values (nothing is made of them)."""
        if not np.isfinite(ab).all():
            raise BackendError(f"the network's output has {int(np.size(ab) - np.isfinite(ab).sum())} NaN or infinite values")
        luma = luma_weights(prepared.gray_formula)
        return finish(ab, prepared.x, prepared.lightness, self.upsampling, self.refine, luma)

    def __call__(self, image: np.ndarray, hints: HintsLike = None) -> np.ndarray:
        """Colorize one photo (H, W) gray or (H, W, 3) RGB, uint8/uint16 -> (H, W, 3) uint8 RGB of the same size."""
        prepared = self.prepare(image, hints)
        return self.finish(self.infer([prepared])[0], prepared)

    def batch(
        self, images: Sequence[np.ndarray], hints_list: Iterable[HintsLike] | None = None, batch_size: int = 8
    ) -> list[np.ndarray]:
        """Colorize many photos (any sizes), batch_size per backend call; hints_list aligned with images or None."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        hints_list = list(hints_list) if hints_list is not None else [None] * len(images)
        if len(hints_list) != len(images):
            raise ValueError(f"got {len(images)} images but {len(hints_list)} hint sets")
        results: list[np.ndarray] = []
        for start in range(0, len(images), batch_size):
            chunk = [self.prepare(im, h) for im, h in zip(images[start : start + batch_size], hints_list[start : start + batch_size])]
            ab = self.infer(chunk)
            results.extend(self.finish(a, p) for a, p in zip(ab, chunk))
        return results

    def close(self) -> None:
        """Release the backend."""
        self.backend.close()

    def __enter__(self) -> "Colorizer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
