"""Photos in memory, one session per browser tab, released when idle; edits coalesce to the latest.

A session is created when a tab opens a photo and named by a random id that only that tab knows. Nothing is
written to disk. Sessions idle for longer than ``idle_seconds`` are dropped (with their photo), and when
``max_sessions`` are open the least recently used one makes room for a new one.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, TypeVar

import anyio.to_thread

from msau.studio.limits import DEFAULT_IDLE_SECONDS, DEFAULT_MAX_SESSIONS
from msau.studio.render import Photo

T = TypeVar("T")



@dataclass
class Session:
    """One tab's photo and the number of its latest edit."""

    id: str
    photo: Photo
    last_used: float
    latest_edit: int = -1
    _turn: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def latest_only(self, edit: int, work: Callable[[], T]) -> T | None:
        """work() in a worker thread for edit number ``edit``, unless a later edit arrived meanwhile: None then.

        Edits that arrive while one is computing wait; when it is done, only the latest of them runs and the
        others return None at once, so a burst of edits (a drag) costs at most two renders, never a queue.
        """
        self.latest_edit = max(self.latest_edit, edit)
        async with self._turn:
            if edit < self.latest_edit:
                return None
            return await anyio.to_thread.run_sync(work)


class SessionStore:
    """Sessions by id, with idle expiry and a bound on how many are open."""

    def __init__(
        self,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if idle_seconds <= 0 or max_sessions < 1:
            raise ValueError(f"idle_seconds must be > 0 and max_sessions >= 1, got {idle_seconds}, {max_sessions}")
        self.idle_seconds = idle_seconds
        self.max_sessions = max_sessions
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, photo: Photo) -> Session:
        """A new session holding photo; the least recently used one is dropped if max_sessions are open."""
        self.expire()
        while len(self._sessions) >= self.max_sessions:
            self._sessions.popitem(last=False)
        session = Session(secrets.token_urlsafe(16), photo, self._clock())
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session | None:
        """The live session with this id (now marked as used), or None if unknown or expired."""
        self.expire()
        session = self._sessions.get(session_id)
        if session is not None:
            session.last_used = self._clock()
            self._sessions.move_to_end(session_id)
        return session

    def remove(self, session_id: str) -> bool:
        """Drop a session; False if there was none."""
        return self._sessions.pop(session_id, None) is not None

    def expire(self) -> int:
        """Drop the sessions idle for longer than idle_seconds; how many were dropped."""
        deadline = self._clock() - self.idle_seconds
        stale = [sid for sid, session in self._sessions.items() if session.last_used < deadline]
        for sid in stale:
            del self._sessions[sid]
        return len(stale)
