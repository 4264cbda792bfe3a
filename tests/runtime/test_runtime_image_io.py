"""Reading any photo (EXIF, 8/16-bit, gray/RGB/RGBA) with clear errors, and atomic writes."""

from __future__ import annotations

import os
import struct

import cv2
import numpy as np
import pytest

from msau.runtime import atomic
from msau.runtime.image_io import ImageError, encode_image, is_colour, read_image, to_uint8, write_image


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """A JPEG with a minimal EXIF APP1 segment holding only the orientation tag (0x0112)."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_gray_rgb_and_16_bit_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    gray = (rng.random((37, 53)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    read = read_image(tmp_path / "gray.png")
    assert read.shape == (37, 53) and read.dtype == np.uint8
    np.testing.assert_array_equal(read, gray)

    rgb16 = (rng.random((21, 34, 3)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    read = read_image(tmp_path / "deep.png")
    assert read.dtype == np.uint16
    np.testing.assert_array_equal(read, rgb16)  # RGB order and all 16 bits kept

    gray16 = (rng.random((9, 11)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "gray16.png"), gray16)
    np.testing.assert_array_equal(read_image(tmp_path / "gray16.png"), gray16)


def test_rgba_drops_alpha(tmp_path):
    rgba = np.zeros((5, 7, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 200, 100, 50, 0  # fully transparent
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    read = read_image(tmp_path / "a.png")
    assert read.shape == (5, 7, 3)
    np.testing.assert_array_equal(read[0, 0], [200, 100, 50])


@pytest.mark.parametrize("orientation, top_white", [(1, None), (3, None), (6, True), (8, False)])
def test_exif_orientation_is_applied(tmp_path, orientation, top_white):
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :20] = 255  # left half white
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    path = tmp_path / "photo.jpg"
    path.write_bytes(with_exif_orientation(data.tobytes(), orientation))
    read = read_image(path)
    if orientation in (1, 3):
        assert read.shape == (20, 40, 3)
        left_white = read[:, :5].mean() > 200
        assert left_white == (orientation == 1)  # 3 = rotated 180 degrees: the white half is on the right
    else:
        assert read.shape == (40, 20, 3)  # 6 and 8 turn the picture a quarter
        assert (read[:5].mean() > 200) == top_white
        assert (read[-5:].mean() > 200) == (not top_white)


def test_read_errors_name_the_file(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 this is not a JPEG " * 8)
    cases = {
        tmp_path / "missing.png": "missing.png: no such file",
        empty: "empty.png: empty file (0 bytes)",
        corrupt: "corrupt.jpg: not a readable image (corrupt, truncated or an unsupported format)",
        tmp_path: "is a folder, not an image",
    }
    for path, fragment in cases.items():
        with pytest.raises(ImageError) as caught:
            read_image(path)
        assert fragment in str(caught.value)
        assert str(caught.value).startswith(str(path))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path):
    path = tmp_path / "locked.png"
    cv2.imwrite(str(path), np.zeros((4, 4), np.uint8))
    path.chmod(0)
    with pytest.raises(ImageError, match="locked.png: cannot read"):
        read_image(path)


def test_write_png_and_jpg_atomically(tmp_path):
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[..., 0] = 255
    png = write_image(tmp_path / "sub" / "out.png", rgb)
    np.testing.assert_array_equal(read_image(png), rgb)
    jpg = write_image(tmp_path / "out.jpg", rgb)
    assert jpg.read_bytes()[:2] == b"\xff\xd8"
    assert np.abs(read_image(jpg).astype(int) - rgb).max() <= 8
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out.jpg", "out.png", "sub"]
    assert oct(png.stat().st_mode & 0o777) == "0o644"


def test_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    old = np.full((3, 3, 3), 7, np.uint8)
    write_image(target, old)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        write_image(target, np.zeros((3, 3, 3), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    np.testing.assert_array_equal(read_image(target), old)


def test_encode_refuses_other_formats():
    with pytest.raises(ImageError, match="cannot write '.gif' images; use .png or .jpg"):
        encode_image(np.zeros((2, 2, 3), np.uint8), ".gif")


def test_helpers():
    assert not is_colour(np.zeros((4, 4), np.uint8))
    assert not is_colour(np.full((4, 4, 3), 9, np.uint8))  # gray saved as RGB
    coloured = np.zeros((4, 4, 3), np.uint8)
    coloured[1, 2, 0] = 1
    assert is_colour(coloured)
    np.testing.assert_array_equal(to_uint8(np.array([0, 128, 129, 257, 65535], np.uint16)), [0, 0, 1, 1, 255])
