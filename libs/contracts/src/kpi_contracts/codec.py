"""Encoders and decoders for events, each built once (msgspec's advice for speed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from kpi_contracts import events

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}

DecodeError = msgspec.DecodeError
"""Raised for a body that is not JSON or does not match the event's schema."""


def encode(event: msgspec.Struct) -> bytes:
    """JSON bytes of an event."""
    return _encoder.encode(event)


def decoder(kind: type[T] | Any) -> msgspec.json.Decoder[T]:
    """The (cached) strict JSON decoder of an event type or union of event types."""
    found = _decoders.get(kind)
    if found is None:
        found = _decoders[kind] = msgspec.json.Decoder(kind)
    return found


def decode(body: bytes | str, kind: type[T] | Any) -> T:
    """Decode and validate a body as `kind`; raises DecodeError with the reason."""
    result: T = decoder(kind).decode(body)
    return result


class _Stamp(msgspec.Struct):
    """What every inbound event must carry itself (our own events default them when built)."""

    event_id: uuid.UUID
    occurred_at: datetime  # naive allowed here: see decode_lifecycle


_stamp_decoder = msgspec.json.Decoder(_Stamp)


def decode_lifecycle(body: bytes | str) -> events.LifecycleEvent:
    """Decode an inbound lifecycle event; the `event_type` tag picks the type.

    Its `event_id` (the dedupe key) and `occurred_at` (its place in the person's story) must be
    the publisher's: made up here, a redelivery would count as a new event at a new time.
    An `occurred_at` without an offset is read as UTC, the contract's time zone (as the HTTP
    routes read one), rather than sending every event of such a publisher to the dead letters.
    """
    stamp = _stamp_decoder.decode(body)
    if stamp.occurred_at.tzinfo is None:
        fields = msgspec.json.decode(body)
        fields["occurred_at"] = stamp.occurred_at.replace(tzinfo=UTC)
        body = _encoder.encode(fields)
    result: events.LifecycleEvent = decoder(events.LifecycleEvent).decode(body)
    if isinstance(result, events.StaffExited) and result.reason and "\x00" in result.reason:
        # PostgreSQL text cannot hold NUL: dropped, so that the exit applies (the reason is a
        # note; retrying could never store it, and the exit would wait in the dead letters).
        result = msgspec.structs.replace(result, reason=result.reason.replace("\x00", ""))
    return result


_plain_decoder = msgspec.json.Decoder()


def encode_json(value: Any) -> bytes:
    """JSON bytes of any plain value."""
    return _encoder.encode(value)


def decode_json(body: bytes | str) -> Any:
    """Any JSON document as plain Python values."""
    return _plain_decoder.decode(body)
