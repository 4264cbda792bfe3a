"""Typed records of msau-bench's result documents (what --json writes and report, plots and compare read).

Every record is a frozen dataclass whose fields are named as the JSON keys. `from_json` reads the dict that
`outputs.read_json` returns and `to_json` gives it back key for key, in the same order: keys a record does
not name travel in `extra`, and a key absent from the source stays absent while its field reads None. A
record built in code (no source keys) writes every field. Numbers are kept as the file holds them (non-finite
ones spelled "inf"/"-inf"/"nan", see outputs.jsonable); read them with outputs.read_float.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

JsonNumber = float | int | str  # a str only for "inf", "-inf" or "nan"
Json = dict[str, Any]
R = TypeVar("R", bound="Record")

_ONE, _LIST, _MAP = "one", "list", "map"
_BOOK_KEEPING = ("extra", "keys")


@dataclass(frozen=True, kw_only=True)
class Record:
    """Base of the records: the JSON round trip, driven by each class's `nested` (field -> (how, record))."""

    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    keys: tuple[str, ...] | None = field(default=None, repr=False, compare=False)  # the source's, in order

    nested: ClassVar[dict[str, tuple[str, str]]] = {}

    @classmethod
    def from_json(cls: type[R], data: Mapping[str, Any]) -> R:
        """The record of one JSON object (a dict as json.loads gives it)."""
        names = {f.name for f in fields(cls)} - set(_BOOK_KEEPING)
        values = {}
        for key, value in data.items():
            if key in names:
                values[key] = _read(cls.nested.get(key), value)
        extra = {key: value for key, value in data.items() if key not in names}
        return cls(**values, extra=extra, keys=tuple(data))

    def to_json(self) -> Json:
        """The JSON object of this record: the source's keys in the source's order, then the fields set since
        (e.g. by dataclasses.replace) that do not hold their default, then the extra keys added since; a record
        built in code writes every field."""
        names = [f.name for f in fields(self) if f.name not in _BOOK_KEEPING]
        if self.keys is None:
            order = (*names, *self.extra)
        else:
            added = [f.name for f in fields(self) if f.name not in self.keys and _was_set(self, f)]
            order = (*self.keys, *added, *(k for k in self.extra if k not in self.keys))
        out = {}
        for key in order:
            if key in names:
                out[key] = _write(self.nested.get(key), getattr(self, key))
            elif key in self.extra:
                out[key] = self.extra[key]
        return out

    def get(self, key: str, default: Any = None) -> Any:
        """A key this record does not name (from extra), or default."""
        return self.extra.get(key, default)


def _was_set(record: Record, spec: Field) -> bool:
    """True for a field (not book-keeping) whose value is not its default."""
    if spec.name in _BOOK_KEEPING:
        return False
    if spec.default is not MISSING:
        return getattr(record, spec.name) != spec.default
    if spec.default_factory is not MISSING:
        return getattr(record, spec.name) != spec.default_factory()
    return True


def _record_class(name: str) -> type[Record]:
    return globals()[name]


def _read(how: tuple[str, str] | None, value: Any) -> Any:
    if how is None or value is None:
        return value
    kind, name = how
    cls = _record_class(name)
    if kind == _ONE:
        return cls.from_json(value)
    if kind == _LIST:
        return [cls.from_json(item) for item in value]
    return {key: cls.from_json(item) for key, item in value.items()}


def _write(how: tuple[str, str] | None, value: Any) -> Any:
    if how is None or value is None:
        return value
    kind = how[0]
    if kind == _ONE:
        return value.to_json()
    if kind == _LIST:
        return [item.to_json() for item in value]
    return {key: item.to_json() for key, item in value.items()}


@dataclass(frozen=True, kw_only=True)
class TimingStats(Record):
    """Summary statistics of timed runs (msau.benchmarks.stats.summarize), in ms or ms per image."""

    count: int | None = None
    mean: JsonNumber | None = None
    p50: JsonNumber | None = None
    p90: JsonNumber | None = None
    p99: JsonNumber | None = None
    min: JsonNumber | None = None
    max: JsonNumber | None = None
    std: JsonNumber | None = None


@dataclass(frozen=True, kw_only=True)
class Peak(Record):
    """A measured matmul peak of one precision on one device, the roofline's ceiling."""

    gflops: JsonNumber | None = None
    how: str | None = None


@dataclass(frozen=True, kw_only=True)
class BatchEntry(Record):
    """One latency measurement (configuration, size, batch); the last four fields are the roofline
    annotation (msau.benchmarks.roofline.annotate) of a measured entry."""

    size: int
    batch: int
    status: str
    reason: str | None = None
    first_run_ms: JsonNumber | None = None
    warmup_runs: int | None = None
    runs: int | None = None
    latency_ms: TimingStats | None = None
    per_image_ms: TimingStats | None = None
    images_per_s: JsonNumber | None = None
    note: str | None = None
    cuda: Json | None = None  # CUDA-event timings: {"compute_ms": stats, "h2d_ms": ..., "d2h_ms": ...} or error
    gflops_per_image: JsonNumber | None = None
    achieved_gflops_per_s: JsonNumber | None = None
    peak_key: str | None = None
    fraction_of_peak: JsonNumber | None = None

    nested: ClassVar[dict[str, tuple[str, str]]] = {
        "latency_ms": (_ONE, "TimingStats"),
        "per_image_ms": (_ONE, "TimingStats"),
    }


@dataclass(frozen=True, kw_only=True)
class Parity(Record):
    """How far a configuration's output is from the reference's: ab in CIE units, the RGB result as PSNR."""

    max_abs_ab: JsonNumber | None = None
    mean_abs_ab: JsonNumber | None = None
    psnr_vs_reference: JsonNumber | None = None


@dataclass(frozen=True, kw_only=True)
class RatioEntry(Record):
    """Quality at one hint ratio: mean PSNR and SSIM, per image, and parity against the reference."""

    ratio: JsonNumber
    psnr: JsonNumber | None = None
    ssim: JsonNumber | None = None
    psnr_per_image: list[JsonNumber] | None = None
    ssim_per_image: list[JsonNumber] | None = None
    parity: Parity | None = None  # None for the reference itself or without one

    nested: ClassVar[dict[str, tuple[str, str]]] = {"parity": (_ONE, "Parity")}


@dataclass(frozen=True, kw_only=True)
class ConfigResult(Record):
    """One configuration's result: latency batches or quality by ratio."""

    backend: str
    precision: str
    status: str
    reason: str | None = None
    device: str | None = None
    artifact: str | None = None
    artifact_mb: JsonNumber | None = None
    open_s: JsonNumber | None = None
    on_gpu: bool | None = None
    batches: list[BatchEntry] = field(default_factory=list)
    by_ratio: list[RatioEntry] = field(default_factory=list)

    nested: ClassVar[dict[str, tuple[str, str]]] = {
        "batches": (_LIST, "BatchEntry"),
        "by_ratio": (_LIST, "RatioEntry"),
    }

    @property
    def name(self) -> str:
        """'backend/precision', the key the reference and the notes use."""
        return f"{self.backend}/{self.precision}"


@dataclass(frozen=True, kw_only=True)
class Fastest(Record):
    """The fastest configuration measured at batch 1."""

    backend: str
    precision: str
    per_image_ms: JsonNumber | None = None


@dataclass(frozen=True, kw_only=True)
class AutoRow(Record):
    """What auto chose on this machine next to the fastest measured; error when auto cannot run the model."""

    backend: str | None = None
    precision: str | None = None
    device: str | None = None
    reason: str | None = None
    fastest: Fastest | None = None
    per_image_ms: JsonNumber | None = None
    ratio_to_fastest: JsonNumber | None = None
    error: str | None = None

    nested: ClassVar[dict[str, tuple[str, str]]] = {"fastest": (_ONE, "Fastest")}


@dataclass(frozen=True, kw_only=True)
class RuntimeWorkRow(Record):
    """The runtime's work around one backend from real Colorizer calls (msau.benchmarks.host_stages)."""

    backend: str
    precision: str
    size: int | None = None
    hints: int | None = None
    runs: int | None = None
    end_to_end_ms: JsonNumber | None = None
    network_ms: JsonNumber | None = None
    prepare_ms: JsonNumber | None = None
    finish_ms: JsonNumber | None = None
    runtime_ms: JsonNumber | None = None
    runtime_share: JsonNumber | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class CompareRow(Record):
    """One row of the comparison table (msau.benchmarks.compare.compare_rows)."""

    backend: str
    precision: str
    device: str
    status: str
    reason: str
    artifact_mb: JsonNumber | None = None
    psnr: JsonNumber | None = None
    ssim: JsonNumber | None = None
    max_abs_ab: JsonNumber | None = None
    ms_per_image_b1: JsonNumber | None = None
    images_per_s: JsonNumber | None = None
    best_batch: int | None = None
    achieved_gflops_per_s: JsonNumber | None = None
    fraction_of_peak: JsonNumber | None = None
    is_reference: bool = False


@dataclass(frozen=True, kw_only=True)
class Settings(Record):
    """What a run measured and how: latency (LatencySettings' fields), quality (quality.quality_settings) or
    compare (ratio and size); each kind fills its own fields."""

    sizes: list[int] | None = None
    batch_sizes: list[int] | None = None
    time_limit_s: JsonNumber | None = None
    budget_s: JsonNumber | None = None
    warmup_s: JsonNumber | None = None
    min_runs: int | None = None
    max_runs: int | None = None
    seed: int | None = None
    device_timing: bool | None = None
    size: int | None = None
    ratios: list[JsonNumber] | None = None
    grid: bool | None = None
    batch_size: int | None = None
    hint_propagation: bool | None = None
    preprocessing: str | None = None
    hint_sampling: str | None = None
    metrics: str | None = None
    parity: str | None = None
    ratio: JsonNumber | None = None


@dataclass(frozen=True, kw_only=True)
class Document(Record):
    """A whole result document of kind latency, quality or compare (a compare nests the other two)."""

    kind: str
    msau_version: str | None = None
    created: str | None = None
    command: str | None = None
    host: Json | None = None  # msau.benchmarks.hostinfo.host_facts plus load_average
    model: Json | None = None  # {"path", "gflops_per_image", "gflops_source"}
    settings: Settings | None = None
    peaks: dict[str, Peak] | None = None
    results: list[ConfigResult] = field(default_factory=list)
    runtime_work: list[RuntimeWorkRow] | None = None
    auto: AutoRow | None = None
    isolated: bool | None = None
    elapsed_s: JsonNumber | None = None
    images: Json | None = None  # quality: {"folder", "files", "left_out"}
    reference: str | None = None
    contact_sheet: str | None = None
    rows: list[CompareRow] = field(default_factory=list)
    latency: Document | None = None
    quality: Document | None = None

    nested: ClassVar[dict[str, tuple[str, str]]] = {
        "settings": (_ONE, "Settings"),
        "peaks": (_MAP, "Peak"),
        "results": (_LIST, "ConfigResult"),
        "runtime_work": (_LIST, "RuntimeWorkRow"),
        "auto": (_ONE, "AutoRow"),
        "rows": (_LIST, "CompareRow"),
        "latency": (_ONE, "Document"),
        "quality": (_ONE, "Document"),
    }

    def parts(self) -> list[Document]:
        """This document and the ones it nests (a compare's latency and quality), in that order."""
        return [self] + [d for d in (self.latency, self.quality) if d is not None]
