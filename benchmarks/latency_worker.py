"""One latency configuration in a process of its own: ``python -m msau.benchmarks.latency_worker REQUEST RESULT``.

msau-bench latency starts one per backend x precision (msau.benchmarks.latency.run_latency_isolated), so that no
other backend's thread pool is alive while one is timed: in one process, OpenVINO's and ONNX Runtime's idle
workers slowed each other by up to 1.6x. The backend is opened through a Colorizer, timed by the latency harness,
and then the same Colorizer times the runtime's work around it from real calls (msau.benchmarks.host_stages).
REQUEST is a JSON file (request_for writes it); RESULT receives the harness's result dict as JSON. Progress
lines go to stderr, where the parent reads them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

from msau.benchmarks.configs import OK, Config, run_error
from msau.benchmarks.host_stages import measure_runtime_work
from msau.benchmarks.latency import LatencySettings, run_latency
from msau.benchmarks.schema import ConfigResult


class _Borrowed:
    """A Colorizer's backend lent to the latency harness, which closes what it opens: the Colorizer closes it."""

    def __init__(self, backend) -> None:
        self._backend = backend

    def __getattr__(self, name: str):
        return getattr(self._backend, name)

    def close(self) -> None:
        pass


def request_for(config: Config, settings: LatencySettings, runtime_work: bool) -> dict:
    """The JSON request for one configuration."""
    return {
        "backend": config.backend,
        "precision": config.precision,
        "device": config.device,
        "artifact": str(config.artifact) if config.artifact else None,
        "options": config.options,
        "settings": asdict(settings),
        "runtime_work": runtime_work,
    }


def _settings(fields: dict) -> LatencySettings:
    return LatencySettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def run_request(request: dict, progress=None) -> ConfigResult:
    """Measure the configuration of a request; the harness's result dict (plus runtime_work when asked)."""
    from msau.runtime.colorizer import Colorizer

    artifact = Path(request["artifact"]) if request["artifact"] else None
    config = Config(request["backend"], request["precision"], request["device"], artifact, options=request["options"])
    settings = _settings(request["settings"])
    opened: list = []

    def opener(config: Config):
        colorizer = Colorizer(
            model=config.artifact, backend=config.backend, precision=config.precision, device=config.device,
            size=settings.sizes[0], **config.options,
        )
        opened.append(colorizer)
        return _Borrowed(colorizer.backend)

    (result,) = run_latency([config], settings, opener=opener, progress=progress)
    work = None
    for colorizer in opened:
        try:
            if request["runtime_work"] and result.status == OK:
                work = measure_runtime_work(colorizer)
        except Exception as error:  # the latency figures stand; say why the runtime's work is missing
            work = {"error": run_error(error)}
        finally:
            colorizer.close()
    # runtime_work travels beside the result to the parent, which moves it into the document's own list
    return result if work is None else replace(result, extra={**result.extra, "runtime_work": work})


def main(argv: Sequence[str] | None = None) -> int:
    """Read REQUEST, measure, write RESULT; 0 when a result was written, 2 on a usage error."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m msau.benchmarks.latency_worker REQUEST.json RESULT.json", file=sys.stderr)
        return 2
    request = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    result = run_request(request, progress=lambda line: print(line, file=sys.stderr, flush=True))
    Path(args[1]).write_text(json.dumps(result.to_json()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
