"""The studio's colour work on one photo, with the runtime's own functions, so that it equals msau-run.

msau-run reads a photo (``read_image``), takes its L* (``image_lightness``), encodes L* and hints for the
network (``encode_lightness``), runs the backend and finishes with ``Colorizer.finish``. The studio does the
same on a photo uploaded into memory (``decode_image``), keeps the full-resolution L* for the session, and
finishes the network's output twice: at the preview size while the user edits, at full resolution for the
download. The network's output for the latest hints is kept, so a download after an edit costs no inference.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from msau.runtime.color import image_lightness
from msau.runtime.colorizer import Colorizer, HintsLike, Prepared, as_hints, check_image
from msau.runtime.encoding import encode_lightness, resize
from msau.runtime.gray_formula import is_gray
from msau.runtime.hints import Hints
from msau.runtime.image_io import decode_image, encode_image
from msau.runtime.side_by_side import gray_panel

# Long side of the preview and of the gray photo the user clicks on: sharp on a laptop screen, cheap to send.
PREVIEW_SIDE = 640


class PhotoError(ValueError):
    """An upload that cannot be used as a photo; the message names it and says what is wrong."""


@dataclass
class Photo:
    """A photo held in memory for one session: its name, full-resolution L*, the preview's L* and whether it was
    a gray photo (whose gray formula the hints may tell: msau.runtime.gray_formula)."""

    name: str
    lightness: np.ndarray  # (H, W) float32, the photo's own L*
    preview_lightness: np.ndarray  # (h, w) float32, long side at most PREVIEW_SIDE
    gray: bool
    # The network's output for the last hints rendered: (hints key, input x (4, s, s), ab (2, s, s)).
    last: tuple[bytes, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def height(self) -> int:
        return int(self.lightness.shape[0])

    @property
    def width(self) -> int:
        return int(self.lightness.shape[1])

    def gray_view(self) -> np.ndarray:
        """RGB uint8 (h, w, 3): the photo as the user clicks on it, its L* as neutral gray at the preview size."""
        return gray_panel(self.preview_lightness)


def preview_shape(height: int, width: int, side: int = PREVIEW_SIDE) -> tuple[int, int]:
    """(h, w) of a photo of height x width shrunk so that its long side is at most ``side`` (never enlarged)."""
    scale = min(1.0, side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def photo_from_image(image: np.ndarray, name: str, max_pixels: int) -> Photo:
    """A Photo of a decoded image (gray, RGB or RGBA, 8 or 16 bit); PhotoError naming it if msau-run would refuse it."""
    try:
        image = check_image(image, max_pixels)
    except (TypeError, ValueError) as error:
        raise PhotoError(f"{name}: {error}") from None
    lightness = image_lightness(image)
    return Photo(name, lightness, resize(lightness, *preview_shape(*lightness.shape)), is_gray(image))


def photo_from_bytes(data: bytes, name: str, max_pixels: int) -> Photo:
    """A Photo of an uploaded file held in memory, decoded as msau-run reads files (EXIF, 16-bit, alpha); ImageError
    naming it if it is unreadable or its header declares more than max_pixels (checked before decoding)."""
    return photo_from_image(decode_image(data, name, max_pixels), name, max_pixels)


def hints_key(hints: Hints) -> bytes:
    """Bytes that identify a hint set (equal hints give equal keys)."""
    return b"|".join(a.tobytes() for a in (hints.xy, hints.rgb, hints.radius))


class Renderer:
    """Colours for the studio's photos from one Colorizer; inference is serialised (one backend, few cores)."""

    def __init__(self, colorizer: Colorizer) -> None:
        self.colorizer = colorizer
        self._infer_lock = threading.Lock()

    def hints_for(self, photo: Photo, hints: HintsLike) -> Hints:
        """Validated hints for the photo (HintError naming the problem), as msau-run validates a hint file."""
        return as_hints(hints, photo.height, photo.width)

    def _network(self, photo: Photo, hints: Hints) -> tuple[np.ndarray, np.ndarray]:
        key = hints_key(hints)
        last = photo.last
        if last is not None and last[0] == key:
            return last[1], last[2]
        size = self.colorizer.size
        x = encode_lightness(photo.lightness, hints, (size, size))  # (4, size, size)
        with self._infer_lock:
            ab = self.colorizer.infer([Prepared(x, photo.lightness)])[0]  # (2, size, size)
        photo.last = (key, x, ab)
        return x, ab

    def preview(self, photo: Photo, hints: Hints) -> np.ndarray:
        """RGB uint8 (h, w, 3) at the preview size: the network's colours finished on the preview's L*."""
        x, ab = self._network(photo, hints)
        formula = self.colorizer.gray_formula_for(lambda: photo.gray, photo.lightness, hints)
        return self.colorizer.finish(ab, Prepared(x, photo.preview_lightness, formula))

    def full(self, photo: Photo, hints: Hints) -> np.ndarray:
        """RGB uint8 (H, W, 3) at the photo's own size, what msau-run writes for the same photo and hints."""
        x, ab = self._network(photo, hints)
        formula = self.colorizer.gray_formula_for(lambda: photo.gray, photo.lightness, hints)
        return self.colorizer.finish(ab, Prepared(x, photo.lightness, formula))


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG bytes of an RGB image, encoded as msau-run writes its outputs."""
    return encode_image(rgb, ".png")


def preview_png_bytes(rgb: np.ndarray) -> bytes:
    """Uncompressed PNG bytes of an RGB preview: it crosses the loopback only, where zlib's time would be lost
    (256²: 2 ms against 7 ms with OpenCV's default level, for 190 KB instead of 85 KB)."""
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 0])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape} preview as PNG")
    return buffer.tobytes()
