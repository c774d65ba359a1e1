"""Patterns a text field must match, each with the words a refusal says instead of the regex.

msgspec refuses a string that does not match its `Meta(pattern=...)` with "Expected `str`
matching regex '<the regex>'", which tells a person (or a page showing it) nothing. A schema
declares its pattern through `worded`, and the HTTP errors say `said` (kpi_kit.errors).
"""

from __future__ import annotations

import re
from typing import Final

# By the pattern's repr, which is how msgspec quotes it.
_WORDS: dict[str, str] = {}
_MISMATCH: Final = re.compile(r"Expected `str` matching regex (?P<quoted>.*)", re.DOTALL)


def worded(pattern: str, words: str) -> str:
    """`pattern`, as given, remembered with the words that say what it asks for (one pattern,
    one wording: the same regex given other words elsewhere is a mistake, refused)."""
    known = _WORDS.setdefault(repr(pattern), words)
    if known != words:
        raise ValueError(f"pattern {pattern!r} already says {known!r}, not {words!r}")
    return pattern


def said(message: str) -> str:
    """A msgspec message in words: a pattern's mismatch in its own, anything else unchanged."""
    mismatch = _MISMATCH.fullmatch(message)
    if mismatch is None:
        return message
    return _WORDS.get(mismatch.group("quoted"), message)
