"""The replica gate asks for the catalogue again while the replica stays empty (the request a
worker sends on start is parked when no catalog has declared its queue yet)."""

from __future__ import annotations

import asyncio
from typing import Any

from assignment.handlers import ReplicaGate


class Replica:
    """Stands in for the pool: the replica is empty until `filled` is set."""

    def __init__(self) -> None:
        self.filled = False

    async def fetchval(self, query: str, *args: Any) -> bool:
        return self.filled


async def test_an_empty_replica_asks_again_until_it_is_filled() -> None:
    replica = Replica()
    asked = 0

    async def ask_again() -> None:
        nonlocal asked
        asked += 1
        if asked == 2:
            replica.filled = True

    gate = ReplicaGate(ask_again=ask_again, ask_every=0.05)
    await asyncio.wait_for(gate.wait(replica), timeout=10)  # type: ignore[arg-type]
    assert asked == 2


async def test_a_filled_replica_asks_nothing() -> None:
    replica = Replica()
    replica.filled = True
    asked = []

    async def ask_again() -> None:
        asked.append(1)

    gate = ReplicaGate(ask_again=ask_again, ask_every=0)
    await gate.wait(replica)  # type: ignore[arg-type]
    assert not asked
