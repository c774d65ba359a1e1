"""`python -m contract_sim.demo`: give the demo people a contract and a first few evaluations.

A fresh `make run` would otherwise show six names with nothing behind them. Through the real APIs
(the gateway), as the contract system and a manager would: each demo person without KPIs gets a
contract from their role group's template (the simulator publishes ContractCreated) and a short
story per KPI: a coaching conversation, an evaluation or two, an observation, effort recognised. The
stories end in a mix of exceeding, meeting and growing. One person waits with a self-reflection
and another with a score adjustment for a manager's approval; that second person is then
promoted to management (the simulator publishes RoleChanged): their team leader KPIs go inactive
with their story kept, the management ones start fresh. The last person has just started and
has no evaluation yet.

Run again, it changes nothing: a person who holds KPIs (active or not) is left as they are. Only
the demo people (tools/contract_sim/data/people.json) are touched.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from contract_sim.api_client import NoDevTokens, dev_token, wait_for_catalog
from contract_sim.directory import People, Person, load_templates
from kpi_contracts.enums import RoleGroup, ScoreType
from kpi_contracts.scales import SCALES, on_scale

Body = dict[str, Any]
T = TypeVar("T")

# How a KPI's story ends, in turn over a person's KPIs: most meet their target, some exceed it and
# some are still growing towards the minimum (with the effort that counts recognised).
ARCS = ("meeting", "exceeding", "meeting", "growing")
# Whose story ends in a promotion (the second person's, a team leader).
PROMOTED = 1
# The steps a manager scores in, on each scale (kpi_contracts.scales).
STEPS = {ScoreType.PERCENTAGE: 1.0, ScoreType.RATING: 0.5}


@dataclass(frozen=True)
class Kpi:
    """What a story needs of a person's KPI (its view on assignment's API)."""

    id: str
    name: str
    score_type: ScoreType
    target: float
    minimum: float
    frequency: str
    tips: tuple[str, ...]
    sources: tuple[str, ...]

    @classmethod
    def of(cls, view: Body) -> Kpi:
        module = view["module"]
        return cls(
            id=view["id"],
            name=module["name"],
            score_type=ScoreType(module["score_type"]),
            target=float(view["target_score"]),
            minimum=float(view["minimum_score"]),
            frequency=module["evaluation_frequency"],
            tips=tuple(module["coaching_tips"]),
            sources=tuple(module["data_sources"]),
        )


@dataclass(frozen=True)
class Scores:
    """The two evaluations of a story, and the effort recognised (growing stories only)."""

    first: float
    second: float
    effort: float | None = None


def scores_for(kpi: Kpi, arc: str) -> Scores | None:
    """Scores that end the story in `arc` (§4: no effort score yet means effort equals outcome),
    each on the module's scale; None when the KPI's target or minimum leaves no room for it
    (never for meeting)."""
    low, _ = SCALES[kpi.score_type]
    step = STEPS[kpi.score_type]
    if arc == "exceeding":
        scores = Scores(first=kpi.target, second=kpi.target + 2 * step)
    elif arc == "meeting":
        midway = round((kpi.minimum + kpi.target) / 2 / step) * step
        scores = Scores(first=max(low, kpi.minimum - step), second=midway)
    else:  # growing: closer to the minimum each time; effort at the minimum lifts the composite
        scores = Scores(first=kpi.minimum - 2 * step, second=kpi.minimum - step, effort=kpi.minimum)
    values = [scores.first, scores.second] + ([] if scores.effort is None else [scores.effort])
    return scores if all(on_scale(kpi.score_type, v) for v in values) else None


def story(kpi: Kpi, arc: str) -> list[Body]:
    """The journal entries (POST bodies, oldest first) of one KPI's story ending in `arc`, or
    in meeting where the scale leaves no room for `arc` (a target of 100 cannot be exceeded)."""
    scores = scores_for(kpi, arc)
    if scores is None:
        arc, scores = "meeting", scores_for(kpi, "meeting")
        assert scores is not None  # the midway between minimum and target is always on the scale
    entries = [coaching(kpi), evaluation(kpi, scores.first)]
    if arc == "exceeding":
        entries += [
            evaluation(kpi, scores.second),
            note(
                "peer_feedback",
                "Feedback from the team",
                "Two colleagues named this as something they learn from watching on shift.",
            ),
        ]
    elif arc == "growing":
        entries += [
            evaluation(kpi, scores.second),
            {
                **note(
                    "effort_recognition",
                    "Effort recognised",
                    "Asked for extra supervision and practised between shifts; that effort counts.",
                ),
                "effort_score": scores.effort,
                "effort_notes": "Booked two buddy shifts and asked for feedback after each one.",
            },
        ]
    else:
        entries += [
            note(
                "observation",
                "Seen on shift",
                "Steady progress since our last conversation: calm, prepared and asking good "
                "questions.",
            ),
            evaluation(kpi, scores.second),
        ]
    return entries


def coaching(kpi: Kpi) -> Body:
    tip = kpi.tips[0] if kpi.tips else "What is going well, and one thing to try next shift."
    return note(
        "coaching_session", f"Coaching: {kpi.name}", f"We worked through this together: {tip}"
    )


def evaluation(kpi: Kpi, score: float) -> Body:
    sources = " and ".join(kpi.sources[:2]) or "the team's records"
    return {
        **note(
            "score_update", f"{kpi.frequency.capitalize()} evaluation", f"Scored from {sources}."
        ),
        "score": score,
    }


def note(entry_type: str, title: str, content: str) -> Body:
    return {"entry_type": entry_type, "title": title, "content": content}


def arcs() -> Iterator[str]:
    while True:
        yield from ARCS


# ---------------------------------------------------------------- through the APIs


class Demo:
    """The demo people's contracts and stories, written through the gateway."""

    def __init__(self, client: httpx.Client, wait: float) -> None:
        self.client = client
        self.wait = wait
        self.templates = {t.role_group: t for t in load_templates()}
        self.manager = self._headers("manager")

    def _headers(self, role: str, staff_id: uuid.UUID | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {dev_token(self.client, role, staff_id)}"}

    def kpis(self, person: Person, status: str = "active") -> list[Body]:
        answer = self.client.get(
            f"/api/v1/hr/staff/{person.staff_id}/kpis",
            params={"status": status},
            headers=self.manager,
        )
        answer.raise_for_status()
        found: list[Body] = answer.json()
        return found

    def contract(self, person: Person) -> bool:
        """A contract from the person's role group template, unless they hold KPIs already."""
        template = self.templates.get(person.role_group) if person.role_group else None
        if template is None or self.kpis(person, status="all"):
            return False
        answer = self.client.post(
            "/contract-sim/contracts",
            json={"staff_id": str(person.staff_id), "template_id": str(template.id)},
            headers=self.manager,
        )
        answer.raise_for_status()
        return True

    def assigned(self, person: Person) -> list[Kpi]:
        """The person's active KPIs, once assignment has them (the contract is an event)."""
        views = self._until(lambda: self.kpis(person), f"{person.name} has no KPIs")
        return [Kpi.of(view) for view in views]

    def promote(self, person: Person, to: RoleGroup) -> None:
        """A role change, once assignment has applied it (the new group's KPIs are active)."""
        answer = self.client.post(
            "/contract-sim/role-changes",
            json={"staff_id": str(person.staff_id), "to_role_group": to.value},
            headers=self.manager,
        )
        answer.raise_for_status()
        self._until(
            lambda: any(k["module"]["role_group"] == to for k in self.kpis(person)),
            f"{person.name} has no {to} KPIs",
        )

    def _until(self, found: Callable[[], T], missing: str) -> T:
        """What `found` returns once it is something: the services apply events a moment later."""
        deadline = time.monotonic() + self.wait
        while not (value := found()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{missing} after {self.wait:.0f}s")
            time.sleep(0.5)
        return value

    def tell(self, person: Person, kpi: Kpi, body: Body, role: str = "manager") -> None:
        headers = self.manager if role == "manager" else self._headers(role, person.staff_id)
        answer = self.client.post(
            f"/api/v1/hr/staff/{person.staff_id}/kpis/{kpi.id}/journal", json=body, headers=headers
        )
        if answer.status_code != 201:
            raise RuntimeError(f"{person.name}, {kpi.name}: {answer.status_code} {answer.text}")

    def stories(
        self, person: Person, kpis: list[Kpi], waiting: Callable[[Kpi], Body | None]
    ) -> int:
        """Each KPI's story, then what waits for approval; the number of entries written."""
        written = 0
        for kpi, arc in zip(kpis, arcs(), strict=False):
            for body in story(kpi, arc):
                self.tell(person, kpi, body)
                written += 1
        pending = waiting(kpis[0])
        if pending is not None:
            role = "staff" if pending["entry_type"] == "self_reflection" else "manager"
            self.tell(person, kpis[0], pending, role)
            written += 1
        return written


def reflection(kpi: Kpi) -> Body:
    return note(
        "self_reflection",
        "How I think this month went",
        "I feel more confident than at the start. I'd like help planning the busy morning shifts.",
    )


def adjustment(kpi: Kpi) -> Body | None:
    step = STEPS[kpi.score_type]
    scores = scores_for(kpi, ARCS[0])
    if scores is None or not on_scale(kpi.score_type, scores.second + step):
        return None
    return {
        **note(
            "score_adjustment",
            "Adjustment after the quarterly review",
            "The review's evidence supports a higher score; to confirm at the next catch-up.",
        ),
        "score_impact": step,
        "is_pending_approval": True,
    }


def waiting_for(index: int) -> Callable[[Kpi], Body | None]:
    """What the person at `index` leaves waiting for approval: the first a reflection, the
    second an adjustment, the others nothing."""
    return {0: reflection, 1: adjustment}.get(index, lambda kpi: None)


def run(client: httpx.Client, wait: float) -> int:
    """A contract for each demo person who holds no KPI yet, and a story for each of them but the
    last, who has just started. Anyone holding KPIs is left as they are: the demo never writes
    into a story a person of the system has begun (an exit recorded on the pages, say)."""
    demo = Demo(client, wait)
    people = People().all()
    new = {person.staff_id for person in people if demo.contract(person)}
    for index, person in enumerate(people):
        if person.staff_id not in new:
            continue
        print(f"{person.name}: contract from the {person.role_group} template")
        kpis = demo.assigned(person)
        if index == len(people) - 1:
            continue
        written = demo.stories(person, kpis, waiting_for(index))
        print(f"{person.name}: {written} journal entries over {len(kpis)} KPIs")
        if index == PROMOTED:
            demo.promote(person, RoleGroup.MANAGEMENT)
            print(f"{person.name}: promoted from {person.role_group} to management")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--api",
        default=os.environ.get(
            "KPI_API_URL", f"http://127.0.0.1:{os.environ.get('KPI_GATEWAY_PORT', '8080')}"
        ),
        help="the gateway; default http://127.0.0.1:$KPI_GATEWAY_PORT",
    )
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the system")
    args = parser.parse_args(argv)
    with httpx.Client(base_url=args.api, timeout=10.0) as client:
        try:
            token = dev_token(client, "manager")
        except NoDevTokens as exc:  # a prod system gets no made-up people
            print(f"No demo data: {exc}")
            return 0
        wait_for_catalog(client, {"Authorization": f"Bearer {token}"}, args.wait)
        return run(client, args.wait)


if __name__ == "__main__":
    sys.exit(main())
