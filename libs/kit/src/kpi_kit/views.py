"""What a staff-only caller may see: raw scoring mechanics stay manager-facing (interfaces §2)."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

SCORING_KEYS = frozenset(
    {
        "current_score",
        "current_effort_score",
        "previous_score",
        "trend_percentage",
        "effort_weight",
        "target_score",
        "minimum_score",
        "score_impact",
        "score_before",
        "score_after",
    }
)

S = TypeVar("S", bound=msgspec.Struct)


def without_scoring(view: S) -> S:
    """The same view with every scoring field UNSET, so the keys are absent from the JSON."""
    hidden: dict[str, Any] = {
        name: msgspec.UNSET for name in view.__struct_fields__ if name in SCORING_KEYS
    }
    nested = {
        name: without_scoring(value)
        for name in view.__struct_fields__
        if isinstance(value := getattr(view, name), msgspec.Struct)
    }
    return msgspec.structs.replace(view, **hidden, **nested)
