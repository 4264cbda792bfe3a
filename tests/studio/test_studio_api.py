"""msau-studio's API without a browser: sessions, previews, downloads equal to msau-run, limits, bad requests."""

from __future__ import annotations

import json
import struct
import zlib

import cv2
import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx2")

from starlette.testclient import TestClient  # noqa: E402

from msau.runtime.cli import main as msau_run  # noqa: E402
from msau.runtime.colorizer import Colorizer  # noqa: E402
from msau.runtime.hints import Hints  # noqa: E402
from msau.runtime.image_io import read_image  # noqa: E402
from msau.studio.app import StartupPhoto, create_app  # noqa: E402
from msau.studio.limits import StudioLimits  # noqa: E402
from msau.studio.render import Renderer, photo_from_image  # noqa: E402

BACKEND = ["--backend", "onnxruntime", "--threads", "1"]


def png(image: np.ndarray) -> bytes:
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def decode(data: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def gray_photo(height: int = 96, width: int = 128) -> np.ndarray:
    """A gray uint8 photo: a gradient with a flat mid-gray disc in the middle and a darker square at the top left."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = (40 + 150 * xx / width).astype(np.uint8)
    image[(yy - height / 2) ** 2 + (xx - width / 2) ** 2 < (min(height, width) / 4) ** 2] = 128
    image[4:24, 4:24] = 70
    return image


@pytest.fixture(scope="module")
def colorizer():
    with Colorizer(backend="onnxruntime", threads=1) as colorizer:
        yield colorizer


def make_client(colorizer, limits: StudioLimits = StudioLimits(), startup: StartupPhoto | None = None) -> TestClient:
    return TestClient(create_app(Renderer(colorizer), limits, startup))


@pytest.fixture
def client(colorizer):
    with make_client(colorizer) as client:
        yield client


def open_photo(client: TestClient, data: bytes, name: str = "photo.png") -> dict:
    response = client.post("/api/sessions", content=data, headers={"X-Filename": name})
    assert response.status_code == 200, response.text
    return response.json()


def test_page_and_static_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200
    for testid in ("open", "canvas", "color", "radius", "result", "undo", "redo", "save-hints", "load-hints", "download", "status"):
        assert f'data-testid="{testid}"' in page.text
    for text in (page.text, client.get("/static/studio.js").text, client.get("/static/studio.css").text):
        assert "http" not in text and "//" + "cdn" not in text  # nothing comes from the network
    assert client.get("/static/studio.css").headers["content-type"].startswith("text/css")


def test_open_photo_gives_a_session_and_its_gray_view(client):
    info = open_photo(client, png(gray_photo(96, 128)))
    assert (info["width"], info["height"], info["hints"]) == (128, 96, [])
    gray = decode(client.get(f"/api/sessions/{info['session']}/gray.png").content)
    assert gray.shape == (info["preview_height"], info["preview_width"], 3) == (96, 128, 3)
    assert np.array_equal(gray[..., 0], gray[..., 2])  # shown as neutral gray


def test_a_colour_photo_is_shown_by_its_lightness(client, make_image):
    info = open_photo(client, png(make_image(64, 80)))
    gray = decode(client.get(f"/api/sessions/{info['session']}/gray.png").content)
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])


def test_large_photos_are_previewed_at_most_preview_side(client):
    info = open_photo(client, png(gray_photo(700, 1400)))
    assert (info["preview_width"], info["preview_height"]) == (640, 320)
    response = client.post(f"/api/sessions/{info['session']}/preview", json={"edit": 1, "hints": []})
    assert decode(response.content).shape == (320, 640, 3)


def test_preview_shows_the_hint_colour(client):
    info = open_photo(client, png(gray_photo()))
    hints = [{"x": 64, "y": 48, "rgb": [220, 30, 30], "radius": 3}]
    response = client.post(f"/api/sessions/{info['session']}/preview", json={"edit": 1, "hints": hints})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    r, g, b = decode(response.content)[48, 64].astype(int)
    assert r > g + 40 and r > b + 40, (r, g, b)


@pytest.mark.parametrize("kind", ["gray8", "rgb16", "rgba"])
def test_download_equals_msau_run(tmp_path, colorizer, kind, make_image, same_colours):
    """The studio and msau-run agree on the same photo and the hints the studio saved (within a rounding step)."""
    image = {
        "gray8": gray_photo(90, 70),
        "rgb16": make_image(90, 70).astype(np.uint16) * 257,
        "rgba": np.dstack([make_image(90, 70), np.full((90, 70), 200, np.uint8)]),
    }[kind]
    photo_path = tmp_path / "photo.png"
    photo_path.write_bytes(png(image))
    hints = [{"x": 10, "y": 12, "rgb": [200, 40, 30]}, {"x": 50, "y": 70, "rgb": [20, 90, 200], "radius": 4}]
    with make_client(colorizer) as client:
        info = open_photo(client, photo_path.read_bytes(), "photo.png")
        saved = client.post(f"/api/sessions/{info['session']}/hints", json={"hints": hints})
        assert saved.headers["content-disposition"] == 'attachment; filename="photo.json"'
        (tmp_path / "photo.json").write_bytes(saved.content)
        download = client.post(f"/api/sessions/{info['session']}/download", json={"hints": hints})
        assert download.headers["content-disposition"] == 'attachment; filename="photo_color.png"'
    assert json.loads(saved.content) == {"hints": hints}
    assert msau_run([str(photo_path), "--hints", str(tmp_path / "photo.json"), "-o", str(tmp_path / "out"), "-q", *BACKEND]) == 0
    expected = read_image(tmp_path / "out" / "photo.png")
    same_colours(decode(download.content), expected, kind)


def test_download_of_a_luma_gray_equals_msau_run(tmp_path, colorizer, make_image, same_colours):
    """A gray made by OpenCV with hints from its colour original: the studio tells the formula as msau-run does."""
    import cv2

    from msau.runtime.hints import sample_hints

    original = make_image(90, 70, seed=4)
    gray = cv2.cvtColor(original, cv2.COLOR_RGB2GRAY)
    hints = sample_hints(original, 0.01, 0).to_json()
    photo_path = tmp_path / "photo.png"
    photo_path.write_bytes(png(gray))
    (tmp_path / "photo.json").write_text(json.dumps(hints))
    with make_client(colorizer) as client:
        info = open_photo(client, photo_path.read_bytes(), "photo.png")
        download = client.post(f"/api/sessions/{info['session']}/download", json=hints)
    assert msau_run([str(photo_path), "--hints", str(tmp_path / "photo.json"), "-o", str(tmp_path / "out"), "-q", *BACKEND]) == 0
    result = decode(download.content)
    same_colours(result, read_image(tmp_path / "out" / "photo.png"), "luma gray")
    assert np.mean(np.abs(cv2.cvtColor(result, cv2.COLOR_RGB2GRAY).astype(int) - gray) > 1) < 0.01


def test_startup_photo_and_hints_open_in_each_tab(colorizer):
    photo = photo_from_image(gray_photo(), "start.png", 10**6)
    hints = Hints(np.array([[5, 6]], np.float32), np.array([[1, 2, 3]], np.uint8), np.array([0], np.int32))
    with make_client(colorizer, startup=StartupPhoto(photo, hints)) as client:
        assert client.get("/api/config").json()["startup_photo"] == "start.png"
        first, second = (client.post("/api/sessions/initial").json() for _ in range(2))
    assert first["session"] != second["session"]
    assert first["hints"] == [{"x": 5, "y": 6, "rgb": [1, 2, 3]}]


def test_tabs_are_independent(client):
    a = open_photo(client, png(gray_photo(64, 64)), "a.png")
    b = open_photo(client, png(gray_photo(80, 48)), "b.png")
    red = [{"x": 32, "y": 32, "rgb": [230, 20, 20], "radius": 2}]
    pa = decode(client.post(f"/api/sessions/{a['session']}/preview", json={"edit": 1, "hints": red}).content)
    pb = decode(client.post(f"/api/sessions/{b['session']}/preview", json={"edit": 1, "hints": []}).content)
    assert pa.shape == (64, 64, 3) and pb.shape == (80, 48, 3)
    assert client.delete(f"/api/sessions/{a['session']}").status_code == 200
    gone = client.post(f"/api/sessions/{a['session']}/preview", json={"edit": 2, "hints": []})
    assert gone.status_code == 404 and "expired" in gone.json()["error"]
    assert client.post(f"/api/sessions/{b['session']}/preview", json={"edit": 2, "hints": []}).status_code == 200


def test_load_hints_json_and_painted_png(client):
    info = open_photo(client, png(gray_photo(40, 50)), "p.png")
    url = f"/api/sessions/{info['session']}/load-hints"
    document = {"hints": [{"x": 3, "y": 4, "rgb": [9, 8, 7], "radius": 1}]}
    loaded = client.post(url, content=json.dumps(document).encode(), headers={"X-Filename": "h.json"})
    assert loaded.json() == document
    painted = np.zeros((40, 50, 4), np.uint8)
    painted[10, 20] = (200, 10, 10, 255)
    assert client.post(url, content=png(painted), headers={"X-Filename": "h.png"}).json() == {
        "hints": [{"x": 20, "y": 10, "rgb": [200, 10, 10]}]
    }
    wrong = client.post(url, content=png(np.zeros((5, 5, 4), np.uint8)), headers={"X-Filename": "small.png"})
    assert wrong.status_code == 422
    assert wrong.json()["error"] == "small.png: painted hints must be an RGBA array of shape (40, 50, 4), got (5, 5, 4)"
    bad = client.post(url, content=b"{nope", headers={"X-Filename": "bad.json"})
    assert bad.status_code == 422 and bad.json()["error"].startswith("bad.json: not valid JSON")


def test_corrupt_upload_is_refused_and_the_app_goes_on(client):
    response = client.post("/api/sessions", content=b"\x89PNG\r\n\x1a\n garbage", headers={"X-Filename": "broken.png"})
    assert response.status_code == 422
    assert response.json() == {"error": "broken.png: not a readable image (corrupt, truncated or an unsupported format)"}
    empty = client.post("/api/sessions", content=b"", headers={"X-Filename": "empty.jpg"})
    assert empty.json() == {"error": "empty.jpg: empty file (0 bytes)"}
    assert open_photo(client, png(gray_photo()))["width"] == 128


def test_upload_limits_bytes_and_pixels(colorizer):
    limits = StudioLimits(max_upload_bytes=2000, max_pixels=100 * 100)
    with make_client(colorizer, limits) as client:
        big = client.post("/api/sessions", content=b"x" * 2001, headers={"X-Filename": "big.png"})
        assert big.status_code == 413
        assert big.json()["error"] == (
            "big.png is larger than the studio accepts (0.00190735 MB; start msau-studio with --max-upload-mb)"
        )
        wide = client.post("/api/sessions", content=png(np.zeros((10, 1001), np.uint8)), headers={"X-Filename": "w.png"})
        assert wide.status_code == 422
        message = wide.json()["error"]  # the runtime's own message (msau.runtime.image_io), naming the upload
        assert message.startswith("w.png: 1001x10 pixels") and "over the limit" in message, message


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height pixels (a decompression bomb, never decoded here)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_from_its_header(client):
    response = client.post("/api/sessions", content=bomb_png(30000, 30000), headers={"X-Filename": "bomb.png"})
    assert response.status_code == 422
    message = response.json()["error"]
    assert message.startswith("bomb.png: 30000x30000 pixels (900 MP)") and "over the limit" in message, message


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b"not json", 400, "the request is not valid JSON"),
        (b"[1, 2]", 400, "the request must be a JSON object"),
        (json.dumps({"edit": "1", "hints": []}).encode(), 400, "\"edit\" must be an integer (the edit number), got '1'"),
        (json.dumps({"edit": 1, "hints": [{"x": 500, "y": 1, "rgb": [1, 2, 3]}]}).encode(), 400, "hints: hint 0 at (x=500"),
        (json.dumps({"edit": 1, "hints": [{"x": 1, "y": 1, "rgb": [1, 2]}]}).encode(), 400, "hints: hint 0: rgb must be"),
        (json.dumps({"edit": 1}).encode(), 400, "hints: expected an object"),
    ],
)
def test_malformed_requests_get_4xx_json(client, body, status, message):
    info = open_photo(client, png(gray_photo()))
    response = client.post(f"/api/sessions/{info['session']}/preview", content=body)
    assert response.status_code == status
    assert response.json()["error"].startswith(message), response.json()


def test_unknown_routes_and_methods_get_json(client):
    assert client.get("/api/nothing").json() == {"error": "Not Found"}
    wrong_method = client.get("/api/sessions")
    assert wrong_method.status_code == 405 and wrong_method.json() == {"error": "Method Not Allowed"}
    # No endpoint reads a path from the client: a file name is only a label for messages.
    response = client.post("/api/sessions", content=b"junk", headers={"X-Filename": "..%2F..%2Fetc%2Fpasswd"})
    assert response.json()["error"].startswith("passwd: not a readable image")


def test_an_unexpected_error_is_one_line_of_json(colorizer, monkeypatch):
    with make_client(colorizer) as client:
        info = open_photo(client, png(gray_photo()))
        monkeypatch.setattr(Renderer, "preview", lambda *args: (_ for _ in ()).throw(RuntimeError("backend fell over")))
        response = client.post(f"/api/sessions/{info['session']}/preview", json={"edit": 1, "hints": []})
    assert response.status_code == 500
    assert response.json() == {"error": "the studio could not do this (RuntimeError: backend fell over)"}
