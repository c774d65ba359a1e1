"""Schemathesis against each service's OpenAPI document, with a valid token of each role: no
input gives a 5xx, and every answer conforms to the document (status, content type, schema).

Bounded for `make test`: KPI_SCHEMATHESIS_EXAMPLES examples per operation and role (default 40)
in each of the positive and negative generation modes.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis import checks as st_checks

from kpi_kit.auth import issue_token
from kpi_kit.settings import DEV_JWT_SECRET

pytestmark = pytest.mark.integration

SERVICES = ("catalog", "assignment", "journal")
ROLES = ("hr_admin", "manager", "staff")
EXAMPLES = int(os.environ.get("KPI_SCHEMATHESIS_EXAMPLES", "40"))
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
    st_checks.negative_data_rejection,
]


def token_for(role: str) -> str:
    staff_id = uuid.uuid4() if role == "staff" else None
    token, _ = issue_token(
        DEV_JWT_SECRET, sub=f"schemathesis-{role}", roles=[role], staff_id=staff_id
    )
    return token


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return " ".join(text.split())[:400]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("service", SERVICES)
def test_no_input_gives_a_5xx_and_every_answer_conforms(
    live_services: Any, figures: Any, service: str, role: str
) -> None:
    if service not in live_services.processes:
        pytest.skip(f"{service} is not installed in this checkout")
    base_url = live_services.base_url(service)
    document = f"{live_services.processes[service].url}/schema/openapi.json"
    schema = schemathesis.openapi.from_url(document)
    headers = {"Authorization": f"Bearer {token_for(role)}"}
    failures: list[str] = []
    cases = 0

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def exercise(case: Any) -> None:
                nonlocal cases
                cases += 1
                response = case.call(base_url=base_url, headers=headers, timeout=30)
                if response.status_code >= 500:
                    figures.server_errors += 1
                try:
                    case.validate_response(response, checks=CHECKS, headers=headers)
                except BaseException as error:  # a FailureGroup: record it, keep generating
                    figures.failures += 1
                    if len(failures) < 20:
                        failures.append(
                            f"{case.operation.label} -> {response.status_code}: "
                            f"{first_line(error)}\n    {case.as_curl_command()}"
                        )

            exercise()

    figures.cases[f"{service}/{role}"] = cases
    assert not failures, "\n".join(failures)
