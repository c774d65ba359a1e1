"""A pattern's mismatch is said in the words its schema gave it, not as the regex."""

from typing import Annotated

import msgspec
import pytest

from kpi_contracts.enums import AutomationLevel
from kpi_contracts.patterns import said, worded

Code = Annotated[str, msgspec.Meta(pattern=worded(r"^[A-Z]{3}$", "must be three capital letters"))]


def test_a_mismatch_is_said_in_the_patterns_words() -> None:
    with pytest.raises(msgspec.ValidationError) as refused:
        msgspec.convert("ab", Code)
    assert said(str(refused.value)) == "must be three capital letters"


def test_a_shared_schemas_pattern_has_words_too() -> None:
    with pytest.raises(msgspec.ValidationError) as refused:
        msgspec.convert(" automated", AutomationLevel)
    assert said(str(refused.value)) == "must have no space at either end and no control characters"


@pytest.mark.parametrize(
    "message",
    [
        "Expected `str` matching regex '^[a-z]$'",  # a pattern nobody gave words
        "Expected `int`, got `str`",
        "Expected `str` of length <= 200",
    ],
)
def test_other_messages_are_left_as_they_are(message: str) -> None:
    assert said(message) == message


def test_one_pattern_has_one_wording() -> None:
    assert worded(r"^[A-Z]{3}$", "must be three capital letters") == r"^[A-Z]{3}$"
    with pytest.raises(ValueError, match="already says"):
        worded(r"^[A-Z]{3}$", "must be a currency code")
