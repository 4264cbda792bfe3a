"""Studio sessions: idle expiry, the bound on open sessions, and edits coalescing to the latest."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

pytest.importorskip("anyio")

from msau.studio.render import Photo  # noqa: E402
from msau.studio.sessions import SessionStore  # noqa: E402


def photo() -> Photo:
    lightness = np.zeros((4, 4), np.float32)
    return Photo("p.png", lightness, lightness, gray=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_idle_sessions_are_released():
    clock = Clock()
    store = SessionStore(idle_seconds=60, clock=clock)
    kept, idle = store.add(photo()), store.add(photo())
    clock.now += 40
    assert store.get(kept.id) is kept  # used: its idle time starts again
    clock.now += 30
    assert store.get(idle.id) is None  # 70 s idle
    assert store.get(kept.id) is kept and len(store) == 1
    clock.now += 61
    assert store.expire() == 1 and len(store) == 0


def test_the_least_recently_used_session_makes_room():
    store = SessionStore(max_sessions=2)
    first, second = store.add(photo()), store.add(photo())
    store.get(first.id)
    third = store.add(photo())
    assert [store.get(s.id) for s in (first, second, third)] == [first, None, third]


def test_ids_are_unguessable_and_distinct():
    store = SessionStore()
    ids = {store.add(photo()).id for _ in range(10)}
    assert len(ids) == 10 and all(len(i) >= 20 for i in ids)


def test_edits_arriving_while_one_computes_coalesce_to_the_latest():
    """Edit 1 computes; edits 2, 3, 4 arrive meanwhile: 2 and 3 are answered None at once, only 4 is computed."""
    session = SessionStore().add(photo())
    release = threading.Event()
    computed: list[int] = []

    def work(edit: int):
        def run() -> int:
            if edit == 1:
                assert release.wait(10)
            computed.append(edit)
            return edit

        return run

    async def scenario():
        first = asyncio.create_task(session.latest_only(1, work(1)))
        await asyncio.sleep(0.05)  # edit 1 now holds the turn and computes in a worker thread
        later = [asyncio.create_task(session.latest_only(e, work(e))) for e in (2, 3, 4)]
        await asyncio.sleep(0.05)
        release.set()
        return await first, await asyncio.gather(*later)

    first, later = asyncio.run(scenario())
    assert (first, later, computed) == (1, [None, None, 4], [1, 4])


def test_an_edit_older_than_the_latest_is_not_computed():
    session = SessionStore().add(photo())

    async def scenario():
        assert await session.latest_only(5, lambda: "five") == "five"
        return await session.latest_only(3, lambda: "three")

    assert asyncio.run(scenario()) is None
