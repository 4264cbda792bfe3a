"""Serve the studio's app with uvicorn on a socket the CLI has already opened."""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette


class ReadyServer(uvicorn.Server):
    """A uvicorn server that calls ``on_ready`` once it answers requests.

    Until then Ctrl+C can land anywhere (inside logging's set-up, say) and leave a traceback; from then on uvicorn
    owns the signal and stops cleanly, so whoever is told the address may stop the server at once.
    """

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.on_ready()


def serve(app: Starlette, sock: socket.socket, on_ready: Callable[[], None]) -> None:
    """Serve app on the listening sock until Ctrl+C; on_ready is called once requests are answered."""
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    ReadyServer(config, on_ready).run(sockets=[sock])
