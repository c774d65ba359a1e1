"""Validation failures name the field, whatever msgspec's wording (interfaces §3)."""

import pytest

from kpi_kit.errors import FieldError, _field_error


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Expected `int`, got `str` - at `$.weight`",
            FieldError("weight", "Expected `int`, got `str`"),
        ),
        (
            "Object contains unknown field `surprise`",
            FieldError("surprise", "Object contains unknown field `surprise`"),
        ),
        (
            "Object missing required field `content`",
            FieldError("content", "Object missing required field `content`"),
        ),
        (
            "Object missing required field `weight` - at `$.kpis[0]`",
            FieldError("kpis[0].weight", "Object missing required field `weight`"),
        ),
    ],
)
def test_the_field_is_named_from_the_message(message, expected):
    assert _field_error({"key": "data", "message": message, "source": "body"}) == expected


def test_a_message_without_a_field_keeps_the_parameter_name():
    assert _field_error({"key": "limit", "message": "must be at least 1"}).field == "limit"


def test_the_whole_body_is_named_body_and_a_missing_one_is_said_to_be_required():
    missing = _field_error({"key": "data", "message": "'data'", "source": "body"})
    assert missing == FieldError("body", "a JSON body is required")
    listed = _field_error({"key": "data", "message": "Expected `object`, got `array`"})
    assert listed == FieldError("body", "Expected `object`, got `array`")
