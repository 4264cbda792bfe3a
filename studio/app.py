"""The studio's web app: the static page and a small API, on Starlette.

API (every error is a 4xx/5xx JSON ``{"error": "one line"}``, never a traceback; no endpoint takes a path):
    GET  /api/config                     limits and whether a photo was given on the command line
    POST /api/sessions                   body: the photo's bytes (header X-Filename) -> a new session
    POST /api/sessions/initial           a new session on the photo (and hints) given on the command line
    DELETE /api/sessions/{id}            release a session now
    GET  /api/sessions/{id}/gray.png     the photo as the user clicks on it (its L*, preview size)
    POST /api/sessions/{id}/preview      {"edit": n, "hints": [...]} -> PNG at preview size; 204 if superseded
    POST /api/sessions/{id}/download     {"hints": [...]} -> full-resolution PNG (what msau-run writes)
    POST /api/sessions/{id}/hints        {"hints": [...]} -> the hint file in msau-run's JSON format
    POST /api/sessions/{id}/load-hints   body: a .json or painted .png hint file (X-Filename) -> {"hints": [...]}
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Awaitable, Callable
from urllib.parse import unquote

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from msau.runtime.hints import HintError, Hints, decode_json_hints, decode_painted_png
from msau.runtime.image_io import ImageError
from msau.studio.limits import MAX_JSON_BYTES, StudioLimits
from msau.studio.render import Photo, PhotoError, Renderer, photo_from_bytes, png_bytes, preview_png_bytes
from msau.studio.sessions import Session, SessionStore

STATIC_DIR = Path(__file__).resolve().parent / "static"
SWEEP_SECONDS = 30.0  # how often idle sessions are looked for when no request comes


@dataclass(frozen=True)
class StartupPhoto:
    """The photo (and hints) given on the command line, opened in every tab that asks for it."""

    photo: Photo
    hints: Hints


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _filename(request: Request) -> str:
    """The upload's file name as the page sent it (X-Filename, URI-encoded), reduced to a bare name for messages."""
    name = PurePath(unquote(request.headers.get("x-filename", ""))).name[:200]
    return name or "upload"


async def _body(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused with 413 as soon as it exceeds limit bytes (never held past the limit)."""
    too_large = HTTPException(
        413, f"{what} is larger than the studio accepts ({limit / 2**20:g} MB; start msau-studio with --max-upload-mb)"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _json(request: Request) -> dict:
    data = await _body(request, MAX_JSON_BYTES, "the request")
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise HTTPException(400, f"the request is not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise HTTPException(400, "the request must be a JSON object")
    return document


def _session_info(session: Session, hints: Hints | None = None) -> dict:
    photo = session.photo
    return {
        "session": session.id,
        "name": photo.name,
        "width": photo.width,
        "height": photo.height,
        "preview_width": int(photo.preview_lightness.shape[1]),
        "preview_height": int(photo.preview_lightness.shape[0]),
        "hints": (hints or Hints.empty()).to_json()["hints"],
    }


def _png(data: bytes, filename: str | None = None) -> Response:
    headers = {"Cache-Control": "no-store"}
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(data, media_type="image/png", headers=headers)


def _stem(name: str) -> str:
    stem = PurePath(name).stem
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or "photo"


def _guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """handler, answering an unexpected error with one line of JSON (500) instead of a traceback anywhere."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except HTTPException:
            raise
        except Exception as error:  # the page shows the line; the server goes on with the next request
            return _error(500, f"the studio could not do this ({type(error).__name__}: {error})")

    return guarded


def create_app(renderer: Renderer, limits: StudioLimits = StudioLimits(), startup: StartupPhoto | None = None) -> Starlette:
    """The studio app around a Renderer (one Colorizer), with its limits and an optional command-line photo."""
    store = SessionStore(limits.idle_seconds, limits.max_sessions)

    def session_of(request: Request) -> Session:
        session = store.get(request.path_params["session_id"])
        if session is None:
            raise HTTPException(404, "this session has expired or does not exist; open the photo again")
        return session

    def hints_of(document: dict, session: Session) -> Hints:
        try:
            return renderer.hints_for(session.photo, {"hints": document.get("hints")})
        except HintError as error:
            raise HTTPException(400, str(error)) from None

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    async def config(request: Request) -> Response:
        return JSONResponse(
            {
                "max_upload_bytes": limits.max_upload_bytes,
                "max_pixels": limits.max_pixels,
                "network_size": renderer.colorizer.size,
                "startup_photo": startup.photo.name if startup else None,
            }
        )

    async def open_photo(request: Request) -> Response:
        name = _filename(request)
        data = await _body(request, limits.max_upload_bytes, name)
        try:
            photo = await anyio.to_thread.run_sync(photo_from_bytes, data, name, limits.max_pixels)
        except (ImageError, PhotoError, ValueError) as error:
            raise HTTPException(422, str(error)) from None
        return JSONResponse(_session_info(store.add(photo)))

    async def open_startup(request: Request) -> Response:
        if startup is None:
            raise HTTPException(404, "no photo was given on the command line")
        photo = dataclasses.replace(startup.photo, last=None)  # each tab its own cache; the arrays are shared, read-only
        return JSONResponse(_session_info(store.add(photo), startup.hints))

    async def close_session(request: Request) -> Response:
        store.remove(request.path_params["session_id"])
        return JSONResponse({"closed": True})

    async def gray(request: Request) -> Response:
        session = session_of(request)
        return _png(await anyio.to_thread.run_sync(lambda: png_bytes(session.photo.gray_view())))

    async def preview(request: Request) -> Response:
        session = session_of(request)
        document = await _json(request)
        edit = document.get("edit")
        if isinstance(edit, bool) or not isinstance(edit, int):
            raise HTTPException(400, f'"edit" must be an integer (the edit number), got {edit!r}')
        hints = hints_of(document, session)
        data = await session.latest_only(edit, lambda: preview_png_bytes(renderer.preview(session.photo, hints)))
        if data is None:
            return Response(status_code=204, headers={"X-Superseded-By": str(session.latest_edit)})
        return _png(data)

    async def download(request: Request) -> Response:
        session = session_of(request)
        hints = hints_of(await _json(request), session)
        data = await anyio.to_thread.run_sync(lambda: png_bytes(renderer.full(session.photo, hints)))
        return _png(data, f"{_stem(session.photo.name)}_color.png")

    async def save_hints(request: Request) -> Response:
        session = session_of(request)
        hints = hints_of(await _json(request), session)
        return JSONResponse(
            hints.to_json(), headers={"Content-Disposition": f'attachment; filename="{_stem(session.photo.name)}.json"'}
        )

    async def load_hints(request: Request) -> Response:
        session = session_of(request)
        name = _filename(request)
        data = await _body(request, limits.max_upload_bytes, name)
        photo = session.photo
        try:
            if data.startswith(b"\x89PNG"):
                painted = decode_painted_png(data, name)
                hints = renderer.hints_for(photo, painted)
            else:
                hints = renderer.hints_for(photo, decode_json_hints(data, name))
        except HintError as error:
            message = str(error)
            raise HTTPException(422, message if message.startswith(name) else f"{name}: {message}") from None
        return JSONResponse(hints.to_json())

    async def http_error(request: Request, error: HTTPException) -> Response:
        return _error(error.status_code, str(error.detail))


    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        async def sweep() -> None:
            while True:
                await asyncio.sleep(SWEEP_SECONDS)
                store.expire()

        task = asyncio.create_task(sweep())
        try:
            yield
        finally:
            task.cancel()

    routes = [
        Route("/", _guarded(index)),
        Route("/api/config", _guarded(config)),
        Route("/api/sessions", _guarded(open_photo), methods=["POST"]),
        Route("/api/sessions/initial", _guarded(open_startup), methods=["POST"]),
        Route("/api/sessions/{session_id}", _guarded(close_session), methods=["DELETE"]),
        Route("/api/sessions/{session_id}/gray.png", _guarded(gray)),
        Route("/api/sessions/{session_id}/preview", _guarded(preview), methods=["POST"]),
        Route("/api/sessions/{session_id}/download", _guarded(download), methods=["POST"]),
        Route("/api/sessions/{session_id}/hints", _guarded(save_hints), methods=["POST"]),
        Route("/api/sessions/{session_id}/load-hints", _guarded(load_hints), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.sessions = store
    return app
