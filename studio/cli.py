"""msau-studio: a local web page to click colour hints on a photo and see it colorized as you go.

Exit codes: 0 the server was stopped (Ctrl+C), 2 usage or setup error (bad option, unreadable photo or hints,
a model or backend that cannot be loaded, a port in use).
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import webbrowser
from pathlib import Path

from msau.runtime.backends.base import PRECISIONS, BackendError
from msau.runtime.cli_types import integer, number
from msau.runtime.colorizer import BACKEND_CHOICES
from msau.runtime.limits import DEFAULT_MAX_PIXELS
from msau.studio.limits import DEFAULT_IDLE_SECONDS, DEFAULT_MAX_SESSIONS, DEFAULT_MAX_UPLOAD_BYTES, StudioLimits

EXIT_OK, EXIT_USAGE = 0, 2
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be in 0..65535 (0: a free one), got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msau-studio",
        description="Colorize a photo interactively in the browser: click colour hints, see the result, download it.",
        epilog="Example: msau-studio examples/gray/kite.png",
    )
    parser.add_argument("photo", nargs="?", type=Path, help="a photo to open at start (the page can open others)")
    parser.add_argument("--hints", type=Path, help="hints to start with (.json or painted .png), for PHOTO")
    parser.add_argument("--model", type=Path, help="ONNX model, TensorRT engine or .safetensors (default: the shipped model)")
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default="auto", help="default: auto (the fastest available)")
    parser.add_argument("--precision", choices=PRECISIONS, help="default: the backend's fastest accurate choice")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=_port, default=0, help="port (default 0: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="print the URL only; do not open a browser")
    parser.add_argument(
        "--max-upload-mb", type=number(0.0, inclusive=False), default=DEFAULT_MAX_UPLOAD_BYTES / 2**20,
        help=f"largest photo or hint file accepted, in MB (default {DEFAULT_MAX_UPLOAD_BYTES / 2**20:g})",
    )
    parser.add_argument(
        "--max-pixels", type=integer(1), default=DEFAULT_MAX_PIXELS,
        help=f"largest photo accepted, in pixels (default {DEFAULT_MAX_PIXELS:,})",
    )
    parser.add_argument(
        "--idle-minutes", type=number(0.0, inclusive=False), default=DEFAULT_IDLE_SECONDS / 60,
        help=f"a tab's photo is released after this long without a request (default {DEFAULT_IDLE_SECONDS / 60:g})",
    )
    parser.add_argument(
        "--max-sessions", type=integer(1), default=DEFAULT_MAX_SESSIONS,
        help=f"photos held at once, one per tab (default {DEFAULT_MAX_SESSIONS}); the least recently used goes first",
    )
    return parser


def _error(message: str) -> int:
    print(f"msau-studio: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _startup(args: argparse.Namespace):
    """The command line's photo and hints as the app holds them, or None; ValueError (and subclasses) if unusable."""
    from msau.runtime.hints import Hints, load_hints
    from msau.runtime.image_io import read_image
    from msau.studio.app import StartupPhoto
    from msau.studio.render import photo_from_image

    if args.photo is None:
        return None
    photo = photo_from_image(read_image(args.photo, args.max_pixels), args.photo.name, args.max_pixels)
    hints = load_hints(args.hints, (photo.height, photo.width)) if args.hints is not None else Hints.empty()
    return StartupPhoto(photo, hints)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: a free one), so that the URL is known before the server starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


def main(argv: list[str] | None = None) -> int:
    """Run msau-studio with argv (default sys.argv[1:]) until Ctrl+C; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse exits on --help (0) and on usage errors (2); return the code instead
        return int(exit_.code or 0)
    try:
        return _serve(args)
    except KeyboardInterrupt:  # Ctrl+C before the server took over the signal (while loading, say): a clean stop
        return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    if args.hints is not None and args.photo is None:
        return _error("--hints needs a PHOTO to go with")
    try:
        from msau.studio.app import create_app
        from msau.studio.server import serve
    except ImportError as error:
        return _error(f"{error.name or error} is missing; install the studio with pip install 'msau[studio]'")
    from msau.runtime.colorizer import Colorizer
    from msau.studio.render import Renderer

    try:
        startup = _startup(args)
    except ValueError as error:  # ImageError, HintError, PhotoError
        return _error(str(error))
    try:
        colorizer = Colorizer(args.model, args.backend, args.precision)
    except (BackendError, FileNotFoundError, ValueError, ImportError) as error:
        return _error(str(error))
    try:
        sock = _listen(args.host, args.port)
    except OSError as error:
        colorizer.close()
        return _error(f"cannot listen on {args.host}:{args.port} ({error.strerror or error})")

    limits = StudioLimits(
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_pixels=args.max_pixels,
        idle_seconds=args.idle_minutes * 60,
        max_sessions=args.max_sessions,
    )
    try:
        app = create_app(Renderer(colorizer), limits, startup)
        host, port = sock.getsockname()[:2]
        url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
        if args.host not in LOCAL_HOSTS:
            print(
                f"msau-studio: warning: listening on {args.host}: anyone who can reach this machine can use the "
                "studio and see the photos opened in it",
                file=sys.stderr,
            )
        print(f"msau-studio: {colorizer.describe()}", file=sys.stderr)

        def announce() -> None:  # once the server answers: a Ctrl+C right after the address stops it cleanly
            print(f"msau-studio: open {url} (Ctrl+C stops)", flush=True)
            if not args.no_browser:
                threading.Timer(0.5, webbrowser.open, args=(url,)).start()

        serve(app, sock, on_ready=announce)
    finally:
        sock.close()
        colorizer.close()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
