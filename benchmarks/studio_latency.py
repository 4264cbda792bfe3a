"""msau-studio's round trip, edit -> updated preview, over HTTP as the page does it; p50/p90 in a Markdown table.

    python -m msau.benchmarks.studio_latency [--size 256] [--edits 60] [--backend auto] [--burst 8]

The studio runs in this process (uvicorn in a thread, on 127.0.0.1), a client on one kept-alive connection
opens a 256² colour photo (the centre of examples/color/garden.jpg, or --photo) and sends edits one after
another, each adding a click with the original's colour there, as a person restoring a photo would; the time
is from sending the edit to having the whole preview PNG. A burst then sends --burst edits at once (a drag):
they coalesce, and the figure is the time until the last edit's preview arrives. The CPU time per edit (this
process's, all threads) depends less than the wall time on what else the machine runs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from msau.benchmarks.hostinfo import cpu_facts
from msau.benchmarks.stats import summarize

EXIT_OK, EXIT_USAGE = 0, 2
DEFAULT_PHOTO = Path(__file__).resolve().parents[1] / "examples" / "color" / "garden.jpg"


def square_photo(path: Path, side: int) -> np.ndarray:
    """The centre side x side of a photo (shrunk first if it is smaller than side on its short edge), RGB uint8."""
    from msau.runtime.encoding import resize
    from msau.runtime.image_io import read_image, to_uint8

    image = to_uint8(read_image(path))
    height, width = image.shape[:2]
    scale = max(side / height, side / width, 1e-9)
    if min(height, width) < side or scale < 1:
        image = resize(image, max(side, round(height * scale)), max(side, round(width * scale)))
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    return image[top : top + side, left : left + side]


class _Server:
    """The studio app on uvicorn in a daemon thread, on a free 127.0.0.1 port."""

    def __init__(self, app) -> None:
        import uvicorn

        from msau.studio.cli import _listen

        self.sock = _listen("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "_Server":
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def _post(connection: http.client.HTTPConnection, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    connection.request("POST", path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read()


def _edit(port: int, session: str, edit: int, hints: list, connection=None) -> tuple[float, int]:
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    body = json.dumps({"edit": edit, "hints": hints}).encode()
    start = time.perf_counter()
    status, _ = _post(connection, f"/api/sessions/{session}/preview", body, {"Content-Type": "application/json"})
    seconds = time.perf_counter() - start
    if own:
        connection.close()
    if status not in (200, 204):
        raise RuntimeError(f"preview answered {status}")
    return seconds, status


def run(args: argparse.Namespace) -> dict:
    """Measure; returns the figures (milliseconds) and what ran."""
    from msau.runtime.colorizer import Colorizer
    from msau.runtime.image_io import encode_image
    from msau.studio.app import create_app
    from msau.studio.render import Renderer

    photo = square_photo(args.photo, args.size)
    rng = np.random.default_rng(0)
    clicks = [(int(x), int(y)) for x, y in rng.integers(0, args.size, size=(args.warmup + args.edits + args.burst, 2))]
    hints = [{"x": x, "y": y, "rgb": [int(c) for c in photo[y, x]]} for x, y in clicks]
    with Colorizer(backend=args.backend) as colorizer, _Server(create_app(Renderer(colorizer))) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        status, body = _post(
            connection, "/api/sessions", encode_image(photo, ".png"), {"X-Filename": "photo.png", "Content-Type": "image/png"}
        )
        if status != 200:
            raise RuntimeError(f"opening the photo answered {status}: {body[:200]!r}")
        session = json.loads(body)["session"]
        times = []
        for edit in range(1, args.warmup + args.edits + 1):
            if edit == args.warmup + 1:
                cpu_start = time.process_time()
            seconds, _ = _edit(server.port, session, edit, hints[:edit], connection)
            if edit > args.warmup:
                times.append(seconds)
        cpu_per_edit = (time.process_time() - cpu_start) / args.edits
        connection.close()
        first = args.warmup + args.edits + 1
        start = time.perf_counter()
        with ThreadPoolExecutor(args.burst) as pool:  # a drag: edits sent before the previous are answered
            futures = [
                pool.submit(_edit, server.port, session, edit, hints[:edit]) for edit in range(first, first + args.burst)
            ]
            statuses = [future.result()[1] for future in futures]
        burst = time.perf_counter() - start
        described = colorizer.describe()
    return {
        "backend": described,
        "cpu": cpu_facts(),
        "size": args.size,
        "edits": summarize(times, 1000.0),
        "cpu_ms_per_edit": cpu_per_edit * 1000.0,
        "burst_ms": burst * 1000.0,
        "burst_rendered": statuses.count(200),
        "burst": args.burst,
    }


def markdown(figures: dict) -> str:
    cpu = figures["cpu"]
    edits = figures["edits"]
    return "\n".join(
        [
            f"CPU: {cpu['model']} ({cpu['usable_cores']} usable cores; {', '.join(cpu['features']) or 'no listed features'})",
            f"Backend: {figures['backend']}",
            "",
            "| photo | edits | p50 ms | p90 ms | mean ms | min ms | max ms |",
            "|---|---|---|---|---|---|---|",
            f"| {figures['size']}² | {int(edits['count'])} | {edits['p50']:.1f} | {edits['p90']:.1f} | {edits['mean']:.1f} "
            f"| {edits['min']:.1f} | {edits['max']:.1f} |",
            "",
            f"CPU time per edit (server and client, all threads): {figures['cpu_ms_per_edit']:.1f} ms.",
            "",
            f"Burst of {figures['burst']} edits sent at once: the last one's preview after {figures['burst_ms']:.0f} ms, "
            f"{figures['burst_rendered']} of {figures['burst']} rendered (the others coalesced).",
        ]
    )


def build_parser() -> argparse.ArgumentParser:
    from msau.runtime.colorizer import BACKEND_CHOICES

    parser = argparse.ArgumentParser(prog="python -m msau.benchmarks.studio_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO, help="a photo; its centre square is used")
    parser.add_argument("--size", type=int, default=256, help="side of the square photo (default 256)")
    parser.add_argument("--edits", type=int, default=60, help="edits timed (default 60)")
    parser.add_argument("--warmup", type=int, default=5, help="edits not timed first (default 5)")
    parser.add_argument("--burst", type=int, default=8, help="edits sent at once at the end (default 8)")
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default="auto", help="default: auto")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if min(args.size, args.edits, args.burst) < 1 or args.warmup < 0:
        print("studio_latency: error: --size, --edits and --burst must be at least 1, --warmup at least 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        figures = run(args)
    except (ImportError, OSError, RuntimeError, ValueError) as error:
        print(f"studio_latency: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(markdown(figures))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
