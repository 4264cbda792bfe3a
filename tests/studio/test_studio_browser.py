"""msau-studio in a real browser (Debian's Chromium driven by Playwright), against `msau-studio --no-browser --port P`.

Skipped only where /usr/bin/chromium is absent; CI (.ci/run) installs it.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("playwright")
pytest.importorskip("uvicorn")

from studio_page import (  # noqa: E402
    CHROMIUM,
    SCREENSHOT_ARGS,
    SCREENSHOT_CLICKS,
    click_photo,
    download,
    launch,
    open_photo,
    result_pixels,
    studio_server,
    take_screenshot,
    wait_ready,
)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)")


def gray_photo(height: int, width: int, discs: list[tuple[int, int, int]]) -> np.ndarray:
    """A gray uint8 photo: a horizontal gradient with flat discs (cx, cy, value) of radius min(H, W) / 6."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = (30 + 190 * xx / width).astype(np.uint8)
    for cx, cy, value in discs:
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < (min(height, width) / 6) ** 2] = value
    return image


def write_gray(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


def is_hue(rgb: np.ndarray, channel: int, margin: int = 30) -> bool:
    """rgb (3,) has `channel` above the two others by margin."""
    others = np.delete(rgb.astype(int), channel)
    return bool(np.all(int(rgb[channel]) - others > margin))


def msau_run(photo: Path, hints: Path, out: Path) -> np.ndarray:
    """What `msau-run PHOTO --hints HINTS -o OUT` writes, as RGB."""
    command = [sys.executable, "-m", "msau.runtime.cli", str(photo), "--hints", str(hints), "-o", str(out), "-q"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return cv2.cvtColor(cv2.imread(str(out / f"{photo.stem}.png")), cv2.COLOR_BGR2RGB)


def png_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def studio_url():
    with studio_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, studio_url):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 700})
    page = context.new_page()
    page.goto(studio_url)
    yield page
    context.close()


def test_issue_check_click_red_and_download_equals_msau_run(page, tmp_path, same_colours):
    """The issue's check: upload a gray photo, red at the middle, ready, red in the result, one hint saved, download
    equal to msau-run on the same photo and hints."""
    photo = write_gray(tmp_path / "gray.png", gray_photo(180, 260, [(130, 90, 128)]))
    open_photo(page, photo)
    page.get_by_test_id("color").fill("#ff0000")
    canvas = page.get_by_test_id("canvas")
    box = canvas.bounding_box()
    canvas.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    wait_ready(page)

    result = result_pixels(page)
    height, width = result.shape[:2]
    middle = result[height // 2 - 2 : height // 2 + 3, width // 2 - 2 : width // 2 + 3].reshape(-1, 3).mean(axis=0)
    assert is_hue(middle, 0, margin=60), middle

    saved = json.loads(download(page, "save-hints", tmp_path / "saved.json").read_text())
    assert saved == {"hints": [{"x": 130, "y": 90, "rgb": [255, 0, 0]}]}
    studio_png = png_rgb(download(page, "download", tmp_path / "studio.png"))
    same_colours(studio_png, msau_run(photo, tmp_path / "saved.json", tmp_path / "out"))


def test_three_hints_undo_redo_and_save(page, tmp_path, same_colours):
    spots = [(60, 60, 90), (200, 60, 150), (130, 150, 120)]  # (x, y, gray level) of three flat discs
    colours = ["#dc2828", "#28b43c", "#2850dc"]  # red, green, blue
    photo = write_gray(tmp_path / "three.png", gray_photo(200, 260, spots))
    open_photo(page, photo)
    for (x, y, _), colour in zip(spots, colours):
        predicted = "#%02x%02x%02x" % tuple(result_pixels(page)[y, x])
        page.get_by_test_id("color").fill(colour)
        click_photo(page, x, y)
        # The picker's first offer at the clicked point is what the model showed there before the click.
        assert page.locator("[data-testid=swatches] button.predicted").first.get_attribute("data-color") == predicted
        page.keyboard.press("Escape")  # deselect: the next colour is for the next hint, not this one
        wait_ready(page)
    result = result_pixels(page)
    for (x, y, _), channel in zip(spots, (0, 1, 2)):
        near = result[y - 3 : y + 4, x - 3 : x + 4].reshape(-1, 3).mean(axis=0)
        assert is_hue(near, channel), (x, y, near)

    page.get_by_test_id("undo").click()
    wait_ready(page)
    after_undo = result_pixels(page)
    x, y, _ = spots[2]
    assert not is_hue(after_undo[y - 3 : y + 4, x - 3 : x + 4].reshape(-1, 3).mean(axis=0), 2)
    saved = json.loads(download(page, "save-hints", tmp_path / "two.json").read_text())
    assert saved == {"hints": [{"x": 60, "y": 60, "rgb": [220, 40, 40]}, {"x": 200, "y": 60, "rgb": [40, 180, 60]}]}
    page.keyboard.press("Control+Shift+Z")
    wait_ready(page)
    assert len(json.loads(download(page, "save-hints", tmp_path / "three.json").read_text())["hints"]) == 3
    studio_png = png_rgb(download(page, "download", tmp_path / "studio.png"))
    same_colours(studio_png, msau_run(photo, tmp_path / "three.json", tmp_path / "out"))


def test_drag_moves_right_click_and_delete_remove_radius_applies(page, tmp_path):
    photo = write_gray(tmp_path / "edit.png", gray_photo(120, 160, []))
    open_photo(page, photo)
    page.get_by_test_id("radius").fill("3")
    click_photo(page, 40, 40)
    click_photo(page, 120, 80)
    page.keyboard.press("Escape")
    canvas = page.get_by_test_id("canvas")
    box = canvas.bounding_box()
    scale = box["width"] / 160
    page.mouse.move(box["x"] + 40.5 * scale, box["y"] + 40.5 * scale)
    page.mouse.down()
    page.mouse.move(box["x"] + 70.5 * scale, box["y"] + 30.5 * scale, steps=5)
    page.mouse.up()
    wait_ready(page)
    saved = json.loads(download(page, "save-hints", tmp_path / "moved.json").read_text())["hints"]
    assert [(h["x"], h["y"], h["radius"]) for h in saved] == [(70, 30, 3), (120, 80, 3)]

    click_photo(page, 120, 80, button="right")  # removes the second hint
    wait_ready(page)
    click_photo(page, 70, 30)  # selects the first one
    page.keyboard.press("Delete")
    wait_ready(page)
    assert json.loads(download(page, "save-hints", tmp_path / "none.json").read_text()) == {"hints": []}
    page.get_by_test_id("undo").click()
    wait_ready(page)
    assert len(json.loads(download(page, "save-hints", tmp_path / "one.json").read_text())["hints"]) == 1


def test_load_hints_and_corrupt_files_show_a_message_and_the_app_goes_on(page, tmp_path):
    photo = write_gray(tmp_path / "p.png", gray_photo(100, 140, [(70, 50, 128)]))
    open_photo(page, photo)
    status = page.get_by_test_id("status")

    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a photo" * 20)
    page.get_by_test_id("open").set_input_files(str(tmp_path / "broken.jpg"))
    from playwright.sync_api import expect

    expect(status).to_have_text("broken.jpg: not a readable image (corrupt, truncated or an unsupported format)")
    expect(status).to_have_class("status error")

    (tmp_path / "bad.json").write_text('{"hints": [{"x": 1}]}')
    page.get_by_test_id("load-hints").set_input_files(str(tmp_path / "bad.json"))
    expect(status).to_have_text("bad.json: hint 0 is missing 'y', 'rgb'")

    (tmp_path / "good.json").write_text(json.dumps({"hints": [{"x": 70, "y": 50, "rgb": [30, 60, 220], "radius": 2}]}))
    page.get_by_test_id("load-hints").set_input_files(str(tmp_path / "good.json"))
    wait_ready(page)  # the photo opened before the corrupt one is still there and colorizes
    result = result_pixels(page)
    assert is_hue(result[48:53, 68:73].reshape(-1, 3).mean(axis=0), 2)


def drop_file(page, path: Path) -> None:
    """Drop a file on the page as a person drags one from a file manager."""
    page.evaluate(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            document.body.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }""",
        [path.name, base64.b64encode(path.read_bytes()).decode()],
    )


def test_drop_a_photo_and_toggle_before_after(page, tmp_path):
    colour = np.zeros((60, 90, 3), np.uint8)
    colour[:, :45] = (30, 160, 40)
    colour[:, 45:] = (200, 60, 20)
    assert cv2.imwrite(str(tmp_path / "colour.png"), cv2.cvtColor(colour, cv2.COLOR_RGB2BGR))
    drop_file(page, tmp_path / "colour.png")
    wait_ready(page)
    assert page.get_by_test_id("canvas").get_attribute("data-photo-width") == "90"
    after = result_pixels(page)
    page.get_by_test_id("before-after").click()
    before = result_pixels(page)  # the photo's lightness as neutral gray
    assert np.array_equal(before[..., 0], before[..., 1]) and np.array_equal(before[..., 1], before[..., 2])
    assert not np.array_equal(before, after)
    page.get_by_test_id("before-after").click()
    assert np.array_equal(result_pixels(page), after)


def test_two_tabs_work_independently(browser, studio_url, tmp_path):
    context = browser.new_context(accept_downloads=True)
    try:
        first, second = context.new_page(), context.new_page()
        for page in (first, second):
            page.goto(studio_url)
        open_photo(first, write_gray(tmp_path / "a.png", gray_photo(80, 120, [(60, 40, 128)])))
        open_photo(second, write_gray(tmp_path / "b.png", gray_photo(90, 90, [])))
        first.get_by_test_id("color").fill("#ff0000")
        click_photo(first, 60, 40)
        wait_ready(first)
        assert json.loads(download(second, "save-hints", tmp_path / "b.json").read_text()) == {"hints": []}
        assert result_pixels(second).shape == (90, 90, 3) and result_pixels(first).shape == (80, 120, 3)
    finally:
        context.close()


def test_startup_photo_and_the_screenshot(browser, tmp_path):
    """`msau-studio PHOTO` opens it in the page; the README's screenshot is taken this way."""
    with studio_server(*SCREENSHOT_ARGS) as url:
        shot = take_screenshot(browser, url, tmp_path / "studio.png", SCREENSHOT_CLICKS)
    image = cv2.imread(str(shot))
    assert image.shape == (450, 1280, 3)
    assert image.std() > 20  # a page with two photos on it, not a blank one
