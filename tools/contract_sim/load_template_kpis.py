"""`python -m contract_sim.load_template_kpis`: put the demo templates' KPI sets into the catalog.

Goes through the catalog's real API, as an HR administrator would: for each template it lists
`GET /api/v1/hr/kpi-modules?role_group=...`, picks the modules by slug, and replaces the
template's set with `PUT /api/v1/hr/templates/{id}/kpis`. Run it after the seed catalogue is
loaded. The token is `KPI_TOKEN` when set, else one from the dev route (KPI_ENV=dev only).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import httpx

from contract_sim.api_client import NoDevTokens, dev_token, wait_for_catalog
from contract_sim.directory import ContractTemplate, load_templates


def hr_admin_token(client: httpx.Client) -> str:
    """KPI_TOKEN, or a dev token for hr_admin."""
    token = os.environ.get("KPI_TOKEN")
    if token:
        return token
    try:
        return dev_token(client, "hr_admin")
    except NoDevTokens as exc:
        sys.exit(f"{exc}: set KPI_TOKEN to an hr_admin token")


def template_body(
    template: ContractTemplate, modules: list[dict[str, object]]
) -> tuple[dict[str, object], list[str]]:
    """The PUT body for a template from the role group's modules; also the slugs not found."""
    by_slug = {str(m["slug"]): m for m in modules}
    kpis, missing = [], []
    for choice in template.kpis:
        module = by_slug.get(choice.slug)
        if module is None:
            missing.append(choice.slug)
            continue
        kpis.append(
            {
                "kpi_module_id": module["id"],
                "weight": choice.weight,
                "is_required": choice.required,
                "custom_target": choice.custom_target,
            }
        )
    return {"kpis": kpis}, missing


def main(argv: list[str] | None = None) -> int:
    """Load every template's KPI set; exit non-zero if a template could not be loaded."""
    parser = argparse.ArgumentParser(
        prog="load_template_kpis",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--api",
        default=os.environ.get(
            "KPI_API_URL", f"http://127.0.0.1:{os.environ.get('KPI_GATEWAY_PORT', '8080')}"
        ),
        help="the gateway (or the catalog service itself); default http://127.0.0.1:$KPI_GATEWAY_PORT",
    )
    parser.add_argument(
        "--templates", type=Path, default=None, help="templates JSON (default: the demo templates)"
    )
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the catalog")
    args = parser.parse_args(argv)

    failures = 0
    with httpx.Client(base_url=args.api, timeout=10.0) as client:
        deadline = time.monotonic() + args.wait
        while True:
            try:
                headers = {"Authorization": f"Bearer {hr_admin_token(client)}"}
                break
            except (httpx.TransportError, httpx.HTTPStatusError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        wait_for_catalog(client, headers, max(1.0, deadline - time.monotonic()))
        for template in load_templates(args.templates):
            listed = client.get(
                "/api/v1/hr/kpi-modules",
                params={"role_group": template.role_group.value},
                headers=headers,
            )
            listed.raise_for_status()
            body, missing = template_body(template, listed.json())
            if missing:
                print(
                    f"  {template.name}: not in the catalogue, skipped: {', '.join(missing)}",
                    file=sys.stderr,
                )
            answer = client.put(
                f"/api/v1/hr/templates/{template.id}/kpis", json=body, headers=headers
            )
            if answer.status_code != 200:
                failures += 1
                print(
                    f"FAILED {template.name}: {answer.status_code} {answer.text}", file=sys.stderr
                )
                continue
            print(f"{template.name}: {len(body['kpis'])} KPI(s) ({template.id})")  # type: ignore[arg-type]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
