"""Read your writes across services: an API answers once the service that shows its change has
applied it.

A journal entry's new score is shown by assignment's API, and a KPI's status change by the
journal's, each after an event between them: without a wait, a client that reads right after a
201 sees the state before it for the 10-30 ms the event takes. So an API request that causes such
an event asks for word of it (`Confirmations.awaited`): the event carries two headers naming
this process's reply queue and a key, the consuming service's `Consumer` sends the key back once
it has committed the event, and the request answers then.

The wait is bounded (`KPI_CONFIRM_TIMEOUT_SECONDS`): the change is committed and its event on its
way whatever happens, so a consumer that is down or behind only delays the answer. And it is for
a process with time to spare: at most `MOST_WAITING` requests of a process wait at once, the
others answer at once as before; while word comes slowly (the last took over
`SLOW_WORD_SECONDS`) only one at a time does, and after a wait with no word at all none does for
a few seconds (a consumer down costs a request a second of waiting now and then, not every
one). Under a sustained burst the event pipeline falls seconds behind, and a client with a fixed
number of connections got half the appends through when every one waited (docs/BENCHMARKS.md);
a person at a page, or a client reading its own write, is one request at a time, and is answered
consistently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Collection, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

import aio_pika
import aiormq
import msgspec

log = logging.getLogger("kpi.confirmations")

CONFIRM_TO = "x-confirm-to"  # the reply queue of the process waiting for word
CONFIRM_KEY = "x-confirm-key"  # the request's key, sent back once the event is applied

_keys_codec = msgspec.json.Decoder(list[str])

MOST_WAITING = 8
SLOW_WORD_SECONDS = 0.1  # ten times what word takes on an idle machine
QUIET_AFTER_NO_WORD_SECONDS = 5.0


@dataclass
class _Expected:
    """What one request waits for word of: the events of these routing keys it causes."""

    routing_keys: Collection[str]
    headers: Mapping[str, str]
    caused: bool = False


_expected: ContextVar[_Expected | None] = ContextVar("kpi_expected_confirmation", default=None)


def confirmation_headers(routing_key: str) -> Mapping[str, str]:
    """The headers an event of `routing_key` caused now carries, so that its consumer sends word
    of it to the request waiting (none when nothing waits for such an event). Called by the
    outbox for every event it queues."""
    expected = _expected.get()
    if expected is None or routing_key not in expected.routing_keys:
        return {}
    expected.caused = True
    return expected.headers


@dataclass
class Confirmations:
    """A process's reply queue and the requests waiting on it."""

    service: str
    timeout: float = 1.0
    queue: str = ""
    _waiting: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    _connection: aio_pika.abc.AbstractRobustConnection | None = None
    quiet_after_no_word: float = QUIET_AFTER_NO_WORD_SECONDS
    _slow: bool = False  # the last word came slowly or not at all: one request at a time waits
    _quiet_until: float = 0.0  # after a wait with no word, none waits until then (loop time)

    async def start(self, amqp_url: str) -> None:
        """Open the reply queue: exclusive to this connection, gone when the process is."""
        self.queue = f"{self.service}.confirmations.{uuid.uuid4().hex[:16]}"
        self._connection = await aio_pika.connect_robust(amqp_url)
        channel = await self._connection.channel()
        queue = await channel.declare_queue(self.queue, exclusive=True, auto_delete=True)
        await queue.consume(self._on_word, no_ack=True)

    @property
    def slow(self) -> bool:
        """Whether the last word waited for came slowly or not at all: one request at a time
        waits, until one is told quickly."""
        return self._slow

    async def stop(self) -> None:
        """Close the reply queue; requests still waiting answer at once."""
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_result(None)
        self._waiting.clear()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    @contextlib.asynccontextmanager
    async def awaited(self, *routing_keys: str) -> AsyncIterator[None]:
        """Run a request's change; if it caused an event of `routing_keys`, wait for word that
        the event was applied (up to the timeout) before the request answers."""
        if self._connection is None or not self._may_wait():
            yield  # not started (an API-less process, a handler's test), or busy: no waiting
            return
        key = uuid.uuid4().hex
        word = asyncio.get_running_loop().create_future()
        self._waiting[key] = word  # before the event can exist, so word cannot come first
        expected = _Expected(routing_keys, {CONFIRM_TO: self.queue, CONFIRM_KEY: key})
        token = _expected.set(expected)
        try:
            yield
            _expected.reset(token)
            if expected.caused:
                await self._wait(word)
        finally:
            self._waiting.pop(key, None)

    def _may_wait(self) -> bool:
        if asyncio.get_running_loop().time() < self._quiet_until:
            return False
        return len(self._waiting) < (1 if self._slow else MOST_WAITING)

    async def _wait(self, word: asyncio.Future[None]) -> None:
        loop = asyncio.get_running_loop()
        asked = loop.time()
        try:
            await asyncio.wait_for(word, self.timeout)
        except TimeoutError:
            if not self._slow:
                log.warning(
                    "no word within %.1fs that an event was applied: requests answer without "
                    "it for %.0fs, then one at a time waits until one is told quickly",
                    self.timeout,
                    self.quiet_after_no_word,
                )
            self._slow = True
            self._quiet_until = loop.time() + self.quiet_after_no_word
        else:
            self._slow = loop.time() - asked > SLOW_WORD_SECONDS

    async def _on_word(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            keys = _keys_codec.decode(message.body)
        except msgspec.DecodeError:
            log.warning("a confirmation that is not a list of keys: %r", message.body[:200])
            return
        for key in keys:
            word = self._waiting.get(key)
            if word is not None and not word.done():
                word.set_result(None)


async def send_word(channel: aiormq.abc.AbstractChannel, headers: Mapping[str, object]) -> None:
    """Tell the request that caused an event (its headers say which) that it has been applied.
    Best effort: a request not told answers at its timeout."""
    to, key = headers.get(CONFIRM_TO), headers.get(CONFIRM_KEY)
    if not isinstance(to, str) or not isinstance(key, str):
        return
    try:
        await channel.basic_publish(msgspec.json.encode([key]), routing_key=to, timeout=5)
    except Exception as exc:  # the waiting process gone, the channel closing: it answers anyway
        log.debug("could not confirm to %s: %r", to, exc)
