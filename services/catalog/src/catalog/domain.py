"""Catalog rules as plain functions: scales, module validity, template KPI sets."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kpi_contracts.enums import ScoreType
from kpi_contracts.scales import EFFORT_WEIGHT_RANGE, custom_target_problem, on_scale, scale_text

_SLUG_NOISE = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Problem:
    """One rule a request breaks, naming the field."""

    field: str
    message: str


def slugify(name: str) -> str:
    """A URL-safe slug from a display name ("WHS & Safety" -> "whs-safety", "Café" -> "cafe")."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return _SLUG_NOISE.sub("-", folded.lower()).strip("-")


def naming_problems(name: str, slug: str) -> list[Problem]:
    """What is wrong with a module's name and slug (the slug made from the name when not given)."""
    if not name.strip():
        return [Problem("name", "must not be blank")]
    if not slug:
        return [Problem("slug", "is needed: the name has no letters or digits to make one from")]
    return []


def module_problems(
    score_type: ScoreType, target_score: float, minimum_score: float, effort_weight: float
) -> list[Problem]:
    """What is wrong with a module's scoring parameters (empty when valid)."""
    problems = []
    low, high = EFFORT_WEIGHT_RANGE
    if not low <= effort_weight <= high:
        problems.append(Problem("effort_weight", f"must be between {low} and {high}"))
    for field, value in (("target_score", target_score), ("minimum_score", minimum_score)):
        if not on_scale(score_type, value):
            problems.append(
                Problem(field, f"must be on the {score_type} scale {scale_text(score_type)}")
            )
    if minimum_score > target_score:  # either may be the one just edited: both are named
        problems.append(Problem("minimum_score", "must not exceed target_score"))
        problems.append(Problem("target_score", "must not be under minimum_score"))
    return problems


@dataclass(frozen=True)
class TemplateKpiChoice:
    """One KPI a template asks for."""

    kpi_module_id: uuid.UUID
    weight: float
    is_required: bool
    custom_target: float | None


@dataclass(frozen=True)
class ModuleScale:
    """What a template's choice of a module is checked against."""

    score_type: ScoreType
    minimum_score: float


def template_problems(
    choices: Sequence[TemplateKpiChoice], modules: Mapping[uuid.UUID, ModuleScale]
) -> list[Problem]:
    """What is wrong with a template's KPI set, given the scale of each known module."""
    problems = []
    seen: set[uuid.UUID] = set()
    for index, choice in enumerate(choices):
        at = f"kpis[{index}]"
        if choice.kpi_module_id in seen:
            problems.append(Problem(f"{at}.kpi_module_id", "lists a module twice"))
        seen.add(choice.kpi_module_id)
        module = modules.get(choice.kpi_module_id)
        if module is None:
            problems.append(Problem(f"{at}.kpi_module_id", "no KPI module has this id"))
        elif choice.custom_target is not None and (
            wrong := custom_target_problem(
                module.score_type, module.minimum_score, choice.custom_target
            )
        ):
            problems.append(Problem(f"{at}.custom_target", wrong))
        if not choice.weight > 0:
            problems.append(Problem(f"{at}.weight", "must be positive"))
    return problems


def scale_change_problems(current: ModuleScale, proposed: ModuleScale) -> list[Problem]:
    """A module's scale is fixed once it exists: the people who hold it have scores on it, which
    another scale would misread (70 is no rating)."""
    if proposed.score_type == current.score_type:
        return []
    return [
        Problem(
            "score_type",
            f"stays {current.score_type} once a module exists: scores are kept on its scale. "
            "Archive this module and create one on the new scale",
        )
    ]


def template_targets_problems(
    current: ModuleScale, proposed: ModuleScale, custom_targets: Iterable[float]
) -> list[Problem]:
    """What a module's new scale or minimum would break: the custom targets templates set for it.

    Only a change of either is checked: a target set before this rule does not block other edits.
    """
    if proposed == current:
        return []
    broken = sorted(
        t
        for t in custom_targets
        if custom_target_problem(proposed.score_type, proposed.minimum_score, t)
    )
    if not broken:
        return []
    field = "score_type" if proposed.score_type != current.score_type else "minimum_score"
    targets = ", ".join(f"{t:g}" for t in broken)
    return [
        Problem(
            field,
            f"templates set this module's target to {targets}, which it would leave "
            "off the scale or under the minimum: change those templates first",
        )
    ]
