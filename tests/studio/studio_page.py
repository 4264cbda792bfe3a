"""Driving msau-studio in Debian's Chromium with Playwright: shared by the browser tests and screenshot.py.

Playwright never downloads a browser here: it drives /usr/bin/chromium (apt-get install chromium; .ci/run
installs it).
"""

from __future__ import annotations

import base64
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
READY_TIMEOUT_MS = 60_000
STARTUP_SECONDS = 120

REPO = Path(__file__).resolve().parents[2]
# The README's screenshot: the garden example and ten clicks, each with the colour of the original there.
SCREENSHOT_ARGS = (str(REPO / "examples" / "gray" / "garden.png"),)
SCREENSHOT_CLICKS = [
    (60, 40, "#e8a439"), (200, 60, "#ffd71f"), (40, 250, "#cec567"), (120, 280, "#ccd663"), (300, 200, "#bb0105"),
    (420, 230, "#ab0102"), (380, 120, "#db7e0b"), (470, 300, "#33480e"), (250, 300, "#2f480c"), (480, 40, "#728939"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def studio_server(*args: str, port: int | None = None) -> Iterator[str]:
    """msau-studio --no-browser --port P [args] in a subprocess; yields its URL; always stopped (Ctrl+C)."""
    port = port or free_port()
    command = [sys.executable, "-m", "msau.studio.cli", "--no-browser", "--port", str(port), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield _wait_for_url(process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_url(process: subprocess.Popen) -> str:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            match = re.search(r"open (http://\S+)", line)
            if match:
                return match.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"msau-studio exited with {process.returncode}: {process.stderr.read()}")
    raise RuntimeError("msau-studio did not print its URL in time")


def launch(playwright):
    """Headless Debian Chromium, as the tests and the screenshot use it."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


def wait_ready(page) -> None:
    """Until the status reads ready: the result of the latest edit is shown."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("status")).to_have_text("ready", timeout=READY_TIMEOUT_MS)


def open_photo(page, path: Path) -> None:
    page.get_by_test_id("open").set_input_files(str(path))
    wait_ready(page)


def photo_size(page) -> tuple[int, int]:
    """(width, height) of the open photo, as the page knows it."""
    canvas = page.get_by_test_id("canvas")
    return int(canvas.get_attribute("data-photo-width")), int(canvas.get_attribute("data-photo-height"))


def click_photo(page, x: int, y: int, button: str = "left") -> None:
    """Click the canvas over the photo's pixel (x, y) (the canvas is scaled to its displayed size)."""
    canvas = page.get_by_test_id("canvas")
    box = canvas.bounding_box()
    width, height = photo_size(page)
    canvas.click(position={"x": (x + 0.5) * box["width"] / width, "y": (y + 0.5) * box["height"] / height}, button=button)


def result_pixels(page) -> np.ndarray:
    """The result image as the page shows it, RGB uint8 (h, w, 3) at its own (preview) size."""
    url = page.get_by_test_id("result").evaluate(
        """(img) => { const c = document.createElement('canvas');
                      c.width = img.naturalWidth; c.height = img.naturalHeight;
                      c.getContext('2d').drawImage(img, 0, 0); return c.toDataURL('image/png'); }"""
    )
    data = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def download(page, testid: str, to: Path) -> Path:
    """Click a download button and save what it gives to ``to``."""
    with page.expect_download() as info:
        page.get_by_test_id(testid).click()
    info.value.save_as(str(to))
    return to


def take_screenshot(browser, url: str, out: Path, clicks: list[tuple[int, int, str]]) -> Path:
    """The studio at url (opened with a photo on its command line), a few more clicks, then a screenshot to out."""
    page = browser.new_page(viewport={"width": 1280, "height": 450}, device_scale_factor=1)
    try:
        page.goto(url)
        wait_ready(page)
        for x, y, colour in clicks:
            page.get_by_test_id("color").fill(colour)
            click_photo(page, x, y)
            page.keyboard.press("Escape")
            wait_ready(page)
        page.screenshot(path=str(out))
    finally:
        page.close()
    return out
