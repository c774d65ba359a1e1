"""Catalog rules: scales, effort weights, template KPI sets."""

from __future__ import annotations

import uuid

from catalog.domain import (
    ModuleScale,
    TemplateKpiChoice,
    module_problems,
    naming_problems,
    scale_change_problems,
    slugify,
    template_problems,
    template_targets_problems,
)
from kpi_contracts.enums import ScoreType
from kpi_contracts.scales import on_scale


def test_percentage_scores_run_from_0_to_100_and_ratings_from_1_to_5() -> None:
    assert on_scale(ScoreType.PERCENTAGE, 0) and on_scale(ScoreType.PERCENTAGE, 100)
    assert not on_scale(ScoreType.PERCENTAGE, 100.5)
    assert on_scale(ScoreType.RATING, 1) and on_scale(ScoreType.RATING, 5)
    assert not on_scale(ScoreType.RATING, 0)


def test_effort_counts_between_15_and_30_percent() -> None:
    assert module_problems(ScoreType.PERCENTAGE, 90, 75, 0.15) == []
    assert module_problems(ScoreType.PERCENTAGE, 90, 75, 0.30) == []
    assert [p.field for p in module_problems(ScoreType.PERCENTAGE, 90, 75, 0.31)] == [
        "effort_weight"
    ]
    assert [p.field for p in module_problems(ScoreType.PERCENTAGE, 90, 75, 0.1)] == [
        "effort_weight"
    ]


def test_the_growing_threshold_cannot_exceed_the_target() -> None:
    problems = module_problems(ScoreType.RATING, 3, 4, 0.2)
    assert [p.field for p in problems] == ["minimum_score", "target_score"]


def test_targets_stay_on_the_modules_scale() -> None:
    problems = module_problems(ScoreType.RATING, 7, 3, 0.2)
    assert [p.field for p in problems] == ["target_score"]


def test_slugs_are_url_safe() -> None:
    assert slugify("WHS & Safety Compliance") == "whs-safety-compliance"
    assert slugify("  Code of Conduct & Culture!") == "code-of-conduct-culture"
    assert slugify("Café Culture & Rôle Clarity") == "cafe-culture-role-clarity"


def test_a_module_needs_a_name_and_a_slug_to_be_found_by() -> None:
    assert naming_problems("Family Partnership", "family-partnership") == []
    [blank] = naming_problems("   ", "")
    assert blank.field == "name"
    # A name with nothing to make a slug from (symbols, another script) asks for the slug.
    for name in ("!!!", "Обслуживание клиентов"):
        [missing] = naming_problems(name, slugify(name))
        assert missing.field == "slug"


def test_a_template_set_names_known_modules_once_with_positive_weights() -> None:
    known, rating = uuid.uuid4(), uuid.uuid4()
    types = {
        known: ModuleScale(ScoreType.PERCENTAGE, minimum_score=70),
        rating: ModuleScale(ScoreType.RATING, minimum_score=3),
    }
    good = [TemplateKpiChoice(known, 1.0, True, 95), TemplateKpiChoice(rating, 2.0, False, None)]
    assert template_problems(good, types) == []

    unknown = uuid.uuid4()
    bad = [
        TemplateKpiChoice(known, 0, False, None),
        TemplateKpiChoice(known, 1, False, None),
        TemplateKpiChoice(unknown, 1, False, None),
        TemplateKpiChoice(rating, 1, False, 6),
    ]
    fields = [p.field for p in template_problems(bad, types)]
    assert fields == [
        "kpis[0].weight",
        "kpis[1].kpi_module_id",
        "kpis[2].kpi_module_id",
        "kpis[3].custom_target",
    ]


def test_a_template_target_under_the_modules_minimum_is_refused() -> None:
    module = uuid.uuid4()
    scales = {module: ModuleScale(ScoreType.PERCENTAGE, minimum_score=70)}
    # Under 70 no score could be meeting: below 70 is growing, above the target exceeding.
    [problem] = template_problems([TemplateKpiChoice(module, 1, False, 65)], scales)
    assert (problem.field, problem.message) == (
        "kpis[0].custom_target",
        "must be at least the module's minimum score, 70",
    )
    assert template_problems([TemplateKpiChoice(module, 1, False, 70)], scales) == []


def test_a_new_minimum_or_scale_may_not_strand_a_templates_target() -> None:
    percentage = ModuleScale(ScoreType.PERCENTAGE, minimum_score=80)
    was = ModuleScale(ScoreType.PERCENTAGE, minimum_score=70)
    [under] = template_targets_problems(was, percentage, [75, 85])
    assert under.field == "minimum_score" and "75" in under.message and "85" not in under.message
    rating = ModuleScale(ScoreType.RATING, minimum_score=3)
    [off] = template_targets_problems(was, rating, [75])
    assert off.field == "score_type"
    assert template_targets_problems(was, percentage, [80, 90]) == []
    # a target set before the rule blocks no edit that keeps the scale and the minimum
    assert template_targets_problems(was, was, [60]) == []


def test_a_modules_scale_may_not_change_once_it_exists() -> None:
    percentage = ModuleScale(ScoreType.PERCENTAGE, minimum_score=70)
    [refused] = scale_change_problems(percentage, ModuleScale(ScoreType.RATING, minimum_score=3))
    assert refused.field == "score_type" and "stays percentage" in refused.message
    assert scale_change_problems(percentage, ModuleScale(ScoreType.PERCENTAGE, 60)) == []
