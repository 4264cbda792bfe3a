"""Takes the README's screenshot of msau-studio (docs/studio.png) as the browser test does.

Run from the checkout: .venv/bin/python tests/studio/screenshot.py docs/studio.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from studio_page import SCREENSHOT_ARGS, SCREENSHOT_CLICKS, launch, studio_server, take_screenshot


def main(argv: list[str] | None = None) -> int:
    out = Path((argv if argv is not None else sys.argv[1:] or ["docs/studio.png"])[0])
    from playwright.sync_api import sync_playwright

    with studio_server(*SCREENSHOT_ARGS) as url, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            take_screenshot(browser, url, out, SCREENSHOT_CLICKS)
        finally:
            browser.close()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
