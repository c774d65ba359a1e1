"""The README's screenshots, taken from a running `make run` with its demo data.

    make screenshots                   # against http://127.0.0.1:$KPI_GATEWAY_PORT (8080)
    .venv/bin/python -m tests.browser.screenshots --base-url http://host:port --out folder

Each picture is one page as a person sees it at a laptop's width (one at a phone's), cut to the
height that shows what it is about, taken with the browser tests' own `Browser`. It needs
Playwright and Chromium (`make browser-install`) and the contract simulator's demo people with
their stories (`python -m contract_sim.demo`, which `make run` runs). The wizard stops at its KPI
step, so nothing is written to the system.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.browser.browser import CHROMIUM, CHROMIUM_ARGS, Browser
from tests.browser.stack import REPO

sys.path.insert(0, str(REPO / "tools"))

from contract_sim.directory import People  # tools/ is not installed: on the path above

PHONE = 390

# The demo people in the pictures: a manager's view of a story with every growth status, and
# the staff member whose reflection waits for approval, on her own page.
MANAGERS_VIEW_OF = "Chloe Tran"
OWN_VIEW_OF = "Aroha Ngata"
SUPPORT_WORKER_TEMPLATE = "Support Worker"
SWITCHED_OFF = "Participant Funds Handling"  # an optional KPI of that template, shown switched off

Shot = Callable[["Camera"], None]


class Camera:
    """Opens browsers on the system and saves their pages into `folder`."""

    def __init__(self, chromium: Any, base_url: str, folder: Path) -> None:
        self.chromium = chromium
        self.base_url = base_url
        self.folder = folder

    @contextmanager
    def browser(self, width: int = 1280) -> Iterator[Browser]:
        browser = Browser(self.chromium, self.base_url, width)
        browser.context.set_default_timeout(30_000)
        try:
            yield browser
        finally:
            browser.close()

    def take(self, browser: Browser, name: str, height: int) -> None:
        browser.page.wait_for_load_state("networkidle")
        path = browser.screenshot(name, self.folder, height)
        print(f"wrote {path}")


def demo_people() -> dict[str, str]:
    """The demo people's staff ids by name (the simulator's own list of them)."""
    return {person.name: str(person.staff_id) for person in People().all()}


def kpi_cards_drawn(page: Any) -> None:
    """Wait until a staff page has drawn its KPI cards with their growth status."""
    page.locator("li.kpi-card [data-growth]").first.wait_for()


def gallery(camera: Camera) -> None:
    with camera.browser() as browser:
        page = browser.sign_in("hr_admin")
        page.goto("/page_hr_kpis.html")
        page.get_by_role("heading", name="Code of Conduct & Culture").first.wait_for()
        camera.take(browser, "kpi-gallery", 1250)


def wizard(camera: Camera) -> None:
    with camera.browser() as browser:
        page = browser.sign_in("manager")
        page.goto("/page_hr_contracting.html")
        page.get_by_label("A new person").check()
        page.get_by_label("Full name").fill("Grace Liu")
        page.get_by_role("button", name="Next").click()
        page.get_by_label(re.compile(SUPPORT_WORKER_TEMPLATE)).check()
        page.get_by_role("button", name="Next").click()
        page.get_by_label(SWITCHED_OFF).uncheck()
        camera.take(browser, "contracting-wizard", 1500)


def people(camera: Camera) -> None:
    with camera.browser() as browser:
        page = browser.sign_in("manager")
        page.goto("/page_staff_detail.html")
        page.locator("#due-list li").first.wait_for()
        camera.take(browser, "people", 1100)


def staff_detail(staff_id: str) -> Shot:
    def shot(camera: Camera) -> None:
        for width, name, height in (
            (1280, "staff-detail", 1350),
            (PHONE, "phone-staff-detail", 1400),
        ):
            with camera.browser(width) as browser:
                page = browser.sign_in("manager")
                page.goto(f"/page_staff_detail.html?staff_id={staff_id}")
                kpi_cards_drawn(page)
                camera.take(browser, name, height)

    return shot


def own_page(staff_id: str) -> Shot:
    def shot(camera: Camera) -> None:
        with camera.browser() as browser:
            page = browser.sign_in("staff", staff_id)
            kpi_cards_drawn(page)
            camera.take(browser, "staff-own-kpis", 1100)
            page.get_by_role("tab", name="Living Journal").click()
            page.locator("#journal-list article[data-entry-id]").first.wait_for()
            camera.take(browser, "staff-own-journal", 1300)

    return shot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="screenshots", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    port = os.environ.get("KPI_GATEWAY_PORT", "8080")
    parser.add_argument("--base-url", default=f"http://127.0.0.1:{port}")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    staff = demo_people()
    shots = [
        gallery,
        wizard,
        people,
        staff_detail(staff[MANAGERS_VIEW_OF]),
        own_page(staff[OWN_VIEW_OF]),
    ]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            camera = Camera(chromium, args.base_url.rstrip("/"), args.out)
            for shot in shots:
                shot(camera)
        finally:
            chromium.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
