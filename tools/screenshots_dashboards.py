"""Screenshots of the dashboards for ``docs/screenshots/`` (run by hand; not a test).

Against a server running on the demo data::

    export DATABASE_URL=sqlite:////tmp/dash.sqlite3
    .venv/bin/python manage.py migrate && .venv/bin/python manage.py seed_demo
    .venv/bin/python manage.py runserver 127.0.0.1:8765 &
    .venv/bin/python -m tools.screenshots_dashboards --base http://127.0.0.1:8765 --out docs/screenshots

Drives Debian's Chromium (``apt-get install chromium``) through Playwright for Python, at desktop
size (1280 px wide) and at phone size (360 px, the cheap Android phones of the team leaders, at a
device pixel ratio of 2). Each shot is the top of a page or one section of it, so that the
files stay small; it also prints how far each page overflows sideways (0 px is the goal).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from tools import chromium

PASSWORD = "fieldteam-demo"  # noqa: S105  # the demo users' published password (seed_demo)
DESKTOP = {"viewport": {"width": 1280, "height": 1000}, "device_scale_factor": 1}
PHONE = {"viewport": {"width": 360, "height": 760}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
TOP_HEIGHT = {"desktop": 1300, "phone": 1500}

# (file stem, size, demo login, page, what to take: "top" or a CSS selector)
SHOTS = [
    ("province", "desktop", "canbo.tinh", "/dashboards/", "top"),
    ("province", "phone", "canbo.tinh", "/dashboards/", "top"),
    ("commune", "desktop", "canbo.xa", "/dashboards/", "top"),
    ("commune", "phone", "canbo.xa", "/dashboards/", "top"),
    ("commune-ranking", "desktop", "canbo.xa", "/dashboards/", "#children"),
    ("commune-ranking", "phone", "canbo.xa", "/dashboards/", "#children"),
    ("commune-activity", "desktop", "canbo.xa", "/dashboards/", "#activity"),
    ("village", "desktop", "totruong.01", "/dashboards/", "top"),
    ("village", "phone", "totruong.01", "/dashboards/", "top"),
    ("village-work-list", "phone", "totruong.01", "/dashboards/", "#work-list"),
    ("admin", "desktop", "canbo.xa", "/admin/", "top"),
    ("job", "phone", "canbo.tinh", "report", "top"),
]


def login(page, base: str, username: str) -> None:
    page.goto(f"{base}/dashboards/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="http://127.0.0.1:8765")
    parser.add_argument("--out", default="docs/screenshots")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium.EXECUTABLE, args=chromium.ARGS)
        for stem, size, username, where, what in SHOTS:
            context = browser.new_context(locale="vi-VN", **(DESKTOP if size == "desktop" else PHONE))
            page = context.new_page()
            login(page, args.base, username)
            if where == "report":
                # The province's periodic report: queued as a job, then its page (eager without Redis).
                page.goto(f"{args.base}/dashboards/")
                page.locator("#reports button[value=xlsx]").click()
                page.wait_for_url(re.compile(r".*/jobs/.*"))
            else:
                page.goto(f"{args.base}{where}")
            page.wait_for_load_state("networkidle")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            path = out / f"dashboard-{stem}-{size}.png"
            if what == "top":
                height = min(TOP_HEIGHT[size], page.evaluate("document.documentElement.scrollHeight"))
                width = page.viewport_size["width"]
                page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": width, "height": height})
            else:
                page.locator(what).screenshot(path=str(path))
            sys.stderr.write(f"{path}: {page.url} (sideways overflow {overflow} px)\n")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
