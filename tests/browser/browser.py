"""A person's browser on the system: Debian's Chromium driven by Playwright, signed in through the
dev sign-in page, with axe-core's accessibility checks. Used by the browser tests and by the
README's screenshots (tests/browser/screenshots.py)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.stack import REPO

ARTIFACTS = REPO / "tests" / "artifacts"
AXE = REPO / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("KPI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class Browser:
    """A fresh browser context (own sessionStorage) on the system under test."""

    def __init__(self, chromium: Any, base_url: str, width: int = 1280) -> None:
        self.width = width
        # bypass_csp lets the test inject axe-core; the pages themselves run under the gateway's CSP.
        self.context = chromium.new_context(
            base_url=base_url, viewport={"width": width, "height": 900}, bypass_csp=True
        )
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def sign_in(self, role: str, staff_id: str | None = None) -> Any:
        """Sign in through the dev form, as a person would; the page they land on."""
        page = self.page
        page.goto("/index.html")
        page.locator(f"input[name=role][value={role}]").check()
        if staff_id:
            page.get_by_label("Your staff id").fill(staff_id)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(re.compile(r"page_"))
        return page

    def screenshot(self, name: str, folder: Path = ARTIFACTS, height: int | None = None) -> Path:
        """Save the whole page, or its top `height` pixels, as `name`.png in `folder`
        (tests/artifacts/ unless told)."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        # the status toast is for people, not for the picture
        self.page.evaluate("document.getElementById('toast')?.replaceChildren()")
        clip = None
        if height is not None:
            full = self.page.evaluate("document.documentElement.scrollHeight")
            clip = {"x": 0, "y": 0, "width": self.width, "height": min(height, full)}
        self.page.screenshot(path=str(path), full_page=True, clip=clip)
        return path

    def axe_violations(self, rules: list[str] | None = None) -> list[dict[str, Any]]:
        """WCAG 2.1 A/AA violations axe-core finds on the page as it is now (or, given rules,
        those of the named rules, such as the best practice `heading-order`)."""
        if not AXE.exists():
            pytest.fail(f"{AXE} is missing: run `make frontend-install`")
        self.page.add_script_tag(path=str(AXE))
        run_only = (
            {"type": "rule", "values": rules}
            if rules
            else {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}
        )
        result = self.page.evaluate(
            """async (runOnly) => (await axe.run(document, {runOnly})).violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))""",
            run_only,
        )
        return list(result)

    def assert_accessible(self) -> None:
        """No axe violations; prints them when there are."""
        violations = self.axe_violations()
        assert not violations, json.dumps(violations, indent=1)

    def close(self) -> None:
        self.context.close()
