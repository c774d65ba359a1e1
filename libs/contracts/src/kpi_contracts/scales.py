"""The scale of each score type (interfaces §6): percentage 0-100, rating 1-5; and the range of
an effort weight (kpi-system.txt: effort counts 15-30%)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from kpi_contracts.enums import ScoreType

SCALES: Final[Mapping[ScoreType, tuple[float, float]]] = {
    ScoreType.PERCENTAGE: (0.0, 100.0),
    ScoreType.RATING: (1.0, 5.0),
}

EFFORT_WEIGHT_RANGE: Final = (0.15, 0.30)


def on_scale(score_type: ScoreType, value: float) -> bool:
    """Whether a score lies on its scale."""
    low, high = SCALES[score_type]
    return low <= value <= high


def custom_target_problem(score_type: ScoreType, minimum_score: float, target: float) -> str | None:
    """What is wrong with a template's or a manual assignment's own target (None if nothing).

    It must lie on the module's scale, and not under the module's minimum: growing is below the
    minimum and exceeding above the target, so under it no score would be meeting.
    """
    if not on_scale(score_type, target):
        return f"must be on the {score_type} scale {scale_text(score_type)}"
    if target < minimum_score:
        return f"must be at least the module's minimum score, {minimum_score:g}"
    return None


def scale_text(score_type: ScoreType) -> str:
    """The scale of a score type, for messages ("0-100")."""
    low, high = SCALES[score_type]
    return f"{low:g}-{high:g}"
