"""Scores live on their type's scale: percentage 0-100, rating 1-5."""

from kpi_contracts.enums import ScoreType
from kpi_contracts.scales import on_scale, scale_text


def test_percentages_run_from_0_to_100() -> None:
    assert on_scale(ScoreType.PERCENTAGE, 0)
    assert on_scale(ScoreType.PERCENTAGE, 100)
    assert not on_scale(ScoreType.PERCENTAGE, 100.01)
    assert scale_text(ScoreType.PERCENTAGE) == "0-100"


def test_ratings_run_from_1_to_5() -> None:
    assert on_scale(ScoreType.RATING, 1)
    assert not on_scale(ScoreType.RATING, 0.5)
    assert scale_text(ScoreType.RATING) == "1-5"
