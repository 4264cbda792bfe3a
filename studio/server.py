"""Serve the studio's app with uvicorn on a socket the CLI has already opened."""

from __future__ import annotations

import socket
import sys
import threading
import webbrowser

import uvicorn
from starlette.applications import Starlette


class AnnouncingServer(uvicorn.Server):
    """A uvicorn server that gives its address (and opens the browser) only once it serves.

    Before that, Ctrl+C can land anywhere (inside logging's set-up, say) and leave a traceback; once uvicorn
    serves, it owns the signal and stops cleanly, so whoever waits for the address may stop it at once.
    """

    def __init__(self, config: uvicorn.Config, url: str, open_browser: bool) -> None:
        super().__init__(config)
        self.url, self.open_browser = url, open_browser

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(f"msau-studio: open {self.url} (Ctrl+C stops)", file=sys.stdout, flush=True)
            if self.open_browser:
                threading.Timer(0.5, webbrowser.open, args=(self.url,)).start()


def serve(app: Starlette, sock: socket.socket, url: str, open_browser: bool) -> None:
    """Serve app on the listening sock until Ctrl+C, announcing url on stdout once requests are answered."""
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    AnnouncingServer(config, url, open_browser).run(sockets=[sock])
