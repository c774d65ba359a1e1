"""Word that an event was applied, on a real broker: a request waits for it only when it caused
an event of the keys it named, answers at its timeout when no word comes, and after that only one
request at a time waits, until one is told quickly; a busy process does not wait."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import aio_pika
import pytest

from kpi_kit.confirmations import (
    CONFIRM_KEY,
    CONFIRM_TO,
    MOST_WAITING,
    Confirmations,
    confirmation_headers,
)

pytestmark = pytest.mark.integration

SCORES = "journal.score_recomputed"
LONG = 60.0  # a wait that long would fail the test's own bound: the request did not wait
BOUND = 10.0

Word = Callable[[Mapping[str, str]], Awaitable[None]]


@pytest.fixture
async def confirmations(amqp_url: str) -> AsyncIterator[Confirmations]:
    waiting = Confirmations("probe", timeout=LONG)
    await waiting.start(amqp_url)
    yield waiting
    await waiting.stop()


@pytest.fixture
async def word(amqp_url: str) -> AsyncIterator[Word]:
    """Sends what a consumer sends once it has applied the event carrying these headers."""
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()

        async def send(headers: Mapping[str, str]) -> None:
            body = f'["{headers[CONFIRM_KEY]}"]'.encode()
            message = aio_pika.Message(body)
            await channel.default_exchange.publish(message, routing_key=headers[CONFIRM_TO])

        yield send


async def request(
    confirmations: Confirmations, causes: str | None, word: Word | None = None
) -> None:
    """A request that causes an event of routing key `causes` (None: none), whose consumer sends
    word of it a moment after the request's change (if `word`)."""
    async with confirmations.awaited(SCORES):
        if causes is not None:
            headers = confirmation_headers(causes)
            if word is not None:
                asyncio.get_running_loop().call_later(
                    0.05, lambda: asyncio.ensure_future(word(headers))
                )


async def test_only_an_event_of_the_keys_named_carries_the_headers(confirmations: Confirmations):
    assert confirmation_headers(SCORES) == {}  # outside a request that waits
    confirmations.timeout = 0.01  # no consumer sends word here
    async with confirmations.awaited(SCORES):
        assert confirmation_headers("journal.entry_appended") == {}
        asked = confirmation_headers(SCORES)
    assert asked[CONFIRM_TO] == confirmations.queue
    assert asked[CONFIRM_KEY]


async def test_a_request_answers_when_word_comes(confirmations: Confirmations, word: Word):
    await asyncio.wait_for(request(confirmations, SCORES, word), BOUND)


async def test_a_request_that_caused_nothing_to_wait_for_does_not_wait(
    confirmations: Confirmations,
):
    await asyncio.wait_for(request(confirmations, None), BOUND)
    await asyncio.wait_for(request(confirmations, "journal.entry_appended"), BOUND)


async def test_a_request_without_word_waits_for_it(confirmations: Confirmations):
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(request(confirmations, SCORES), 1.0)


async def test_after_no_word_none_waits_for_a_while_then_one_at_a_time_until_one_is_told_quickly(
    confirmations: Confirmations, word: Word
):
    confirmations.timeout, confirmations.quiet_after_no_word = 0.1, 0.5
    await request(confirmations, SCORES)  # no word: answers at its timeout
    assert confirmations.slow
    confirmations.timeout = LONG
    await asyncio.wait_for(request(confirmations, SCORES), BOUND)  # quiet: none waits
    await asyncio.sleep(0.5)

    probe = asyncio.create_task(request(confirmations, SCORES))  # waits: the one at a time
    await asyncio.sleep(0.1)
    assert not probe.done()
    await asyncio.wait_for(request(confirmations, SCORES), BOUND)  # a second does not wait
    probe.cancel()
    await asyncio.gather(probe, return_exceptions=True)

    await asyncio.wait_for(request(confirmations, SCORES, word), BOUND)  # told in 0.05 s
    assert not confirmations.slow
    waiting = [asyncio.create_task(request(confirmations, SCORES)) for _ in range(2)]
    await asyncio.sleep(0.1)
    assert not any(task.done() for task in waiting)  # as many as MOST_WAITING wait again
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)


async def test_a_busy_process_answers_at_once_past_its_most_waiting(
    confirmations: Confirmations, word: Word
):
    waiting = [asyncio.create_task(request(confirmations, SCORES)) for _ in range(MOST_WAITING)]
    await asyncio.sleep(0.1)  # each has caused its event and waits for word that never comes
    assert not any(task.done() for task in waiting)

    await asyncio.wait_for(request(confirmations, SCORES), BOUND)  # one more does not wait

    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    with pytest.raises(TimeoutError):  # room again: it waits
        await asyncio.wait_for(request(confirmations, SCORES), 1.0)
