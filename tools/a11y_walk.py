"""A walk through every page of fieldteam, as a signed-in user, checking accessibility in Chromium.

Each kind of page a user can reach is opened once (one page per URL shape: ``/residents/12/``
stands for every resident; in the admin, one changelist, one change form and one add form per
distinct set of templates, inlines and widgets, see ``admin_kinds``), on a 360 px phone, and again
on a desktop window where the layout differs (the field app and the dashboards), and checked for:

- **axe-core** violations of WCAG 2.1 A and AA (``axe-playwright-python`` ships axe-core; nothing is
  downloaded at run time);
- **tap targets** under 44 x 44 CSS px on the phone (WCAG 2.5.5, the AAA size, which the issue
  asks for): ``a``, ``button``, ``input``, ``select``, ``textarea``, ``summary``, ``[role=button]``.
  Exempt, as WCAG 2.5.5 and 2.5.8 exempt them: a link inside a sentence (an inline link among other
  text of the same block, whose height the line sets), and a target visually hidden (1 px boxes of
  screen-reader text). A checkbox or radio button is measured with its label, since tapping the
  label ticks it.

Used by ``tests/web/test_accessibility_walk.py``; also runs by hand against a server holding the
demo (read-only: it only follows links and opens forms)::

    .venv/bin/python -m tools.a11y_walk --base-url http://127.0.0.1:8000 --user canbo.xa
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.urls import reverse

from tools import chromium

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite, ModelAdmin
    from django.http import HttpRequest
    from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

PHONE: ViewportSize = {"width": 360, "height": 740}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
MIN_TARGET = 44
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# Where each user starts (their home and their dashboard, checked for every user: what they hold
# depends on who reads them), then the admin's index and pages reached by no link of a page (the
# service worker's offline pages, the admin's password form), checked once, by the first user to reach them.
STARTS = ["/", "/dashboards/"]
SEEDS = [
    "/admin/",
    "/search/",
    "/register/",
    "/training/",
    "/history/",
    "/outbox/",
    "/offline/",
    "/shell/resident/",
    "/shell/household/",
    "/admin/password_change/",
]
SIGNED_OUT = ["/login/", "/dashboards/login/", "/admin/login/"]
# Not pages: downloads, sign-out, the API, files, language switching, the admin's JSON views.
SKIP = re.compile(
    r"/logout/|/i18n/|^/api/|^/static/|^/media/|/jsi18n/|/autocomplete/|\.(xlsx|csv|json|js|webmanifest)$"
    r"|/download/|/work-list\.|/r/\d+/\d+/|/import/template/$"
    # The admin's stock pages that repeat a template already walked: history, deletion.
    r"|^/admin/.+/(history|delete)/$|^/admin/r/"
)
# Checked on a desktop window too: the pages whose layout changes with the width (the admin's and the
# sign-in pages' do not, beyond reflowing).
WIDE_LAYOUT = re.compile(r"^/(?!admin/|login/|dashboards/login/)")

# What a page holds, to tell two users' same page apart: its sections and how many headings, forms,
# tables, folds and fields it has.
CONTENT_SCRIPT = """() => {
  const main = document.querySelector("main") || document.body;
  const ids = [...main.querySelectorAll("section[id]")].map((s) => s.id).join(",");
  const counts = ["h2", "h3", "form", "table", "details", "input, select, textarea", "a[href]"].map(
    (selector) => main.querySelectorAll(selector).length);
  return `${ids} ${counts.join(" ")}`;
}"""

# The tap-target measurement, run in the page. A target's box, with a checkbox's or radio's label
# added; inline links inside a sentence and visually hidden elements are exempt.
TARGETS_SCRIPT = """(min) => {
  const out = [];
  const visible = (el) => {
    const s = getComputedStyle(el);
    if (s.visibility === "hidden" || s.display === "none") return false;
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1 && el.getClientRects().length > 0;
  };
  const inSentence = (el) => {
    if (el.tagName !== "A" || getComputedStyle(el).display !== "inline") return false;
    let block = el.parentElement;
    while (block && getComputedStyle(block).display.startsWith("inline")) block = block.parentElement;
    if (!block) return false;
    const own = (el.textContent || "").trim().length;
    const all = (block.textContent || "").replace(/\\s+/g, " ").trim().length;
    return all - own >= 12;  // words of its own around the link: a sentence, not a bare list of links
  };
  const describe = (el) => {
    const id = el.id ? "#" + el.id : "";
    const cls = el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "";
    const text = (el.innerText || el.value || el.getAttribute("aria-label") || el.name || "").trim().slice(0, 40);
    return `${el.tagName.toLowerCase()}${id}${cls} "${text}"`;
  };
  const selector = "a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button]";
  for (const el of document.querySelectorAll(selector)) {
    if (!visible(el) || inSentence(el)) continue;
    if (el.closest("[aria-hidden=true]")) continue;
    let r = el.getBoundingClientRect();
    let width = r.width, height = r.height;
    if (el.type === "checkbox" || el.type === "radio") {
      const label = el.closest("label") || (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`));
      if (label && visible(label)) {
        const l = label.getBoundingClientRect();
        width = Math.max(r.right, l.right) - Math.min(r.left, l.left);
        height = Math.max(r.bottom, l.bottom) - Math.min(r.top, l.top);
      }
    }
    if (width < min - 0.5 || height < min - 0.5) out.push(`${describe(el)} ${Math.round(width)}x${Math.round(height)}`);
  }
  return out;
}"""


@dataclass
class Finding:
    user: str
    url: str
    viewport: str
    kind: str  # an axe rule id, or "tap-target"
    detail: str

    def __str__(self) -> str:
        return f"[{self.user}] {self.url} ({self.viewport}) {self.kind}: {self.detail}"


# A phone set to Vietnamese, as the users' are: the site follows the browser's language (English
# stays available to a browser that asks for it).
LOCALE = "vi-VN"


@dataclass
class Walk:
    """What a walk saw: the pages it checked (``user URL`` -> phone page height) and what it found.

    ``seen`` holds the kinds of page already checked (``kind``), by any user: a page of the same kind
    is checked once for the walk, except each user's start pages (their home, their dashboard),
    checked for every user, unless it holds what another user's did (``contents``: path and content
    of each page checked). ``kinds`` says which page stood for each kind.
    """

    pages: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    kinds: dict[str, str] = field(default_factory=dict)
    axe_runs: int = 0
    contents: set[str] = field(default_factory=set)
    # Words a page must not show, read off the rendered page (scripts' text included): the English
    # word list of the server-side check, so text the browser builds is held to it too.
    foreign_words: Callable[[str], list[str]] | None = None


def shape(path: str) -> str:
    """One key per kind of page: numbers stand for any object, a capability's work list for all."""
    return re.sub(r"^/work/N/[^/]+/", "/work/N/C/", re.sub(r"/\d+(?=/)", "/N", path))


@dataclass
class AdminKinds:
    """The admin's pages grouped by what renders them, so that a few pages stand for all.

    ``pages`` maps a kind (``admin changelist <n>``, ``admin change <n>``, ``admin add <n>``) to the
    page walked for it; ``models`` maps a model's changelist path to the kind each of its pages
    counts as (the kind of a page whose every template, inline, widget and script another page walked
    already shows).
    """

    pages: dict[str, str] = field(default_factory=dict)
    models: dict[str, dict[str, str]] = field(default_factory=dict)
    apps: set[str] = field(default_factory=set)

    def kind(self, path: str) -> str:
        """The kind of an admin page; ``shape`` for a page not grouped (the model's own views)."""
        match = re.match(r"^(/admin/[^/]+/[^/]+/)(.*)$", path)
        if match and match.group(1) in self.models:
            rest = match.group(2).strip("/")
            by_view = self.models[match.group(1)]
            view = "change" if re.fullmatch(r"[^/]+/change", rest) else {"": "changelist", "add": "add"}.get(rest, "")
            if view in by_view:
                return by_view[view]
            if rest in ("import", "export"):  # one import-export form, whichever changelist it serves
                return f"admin {rest}"
        if re.fullmatch(r"/admin/([^/]+)/", path) and path.split("/")[2] in self.apps:
            return "admin app index"
        return shape(path)


def _widgets(fields: Mapping[str, Any], prefix: str = "widget") -> set[str]:
    names = set()
    for form_field in fields.values():
        names.add(f"{prefix} {type(form_field.widget).__name__}")
        inner = getattr(form_field.widget, "widget", None)  # a related-object wrapper's widget
        if inner is not None:
            names.add(f"{prefix} {type(inner).__name__}")
    return names


def _scripts(model_admin: ModelAdmin[Any]) -> set[str]:
    return {f"script {tag}" for tag in str(model_admin.media).splitlines()}


def _changelist_features(model_admin: ModelAdmin[Any], request: HttpRequest) -> set[str]:
    return _scripts(model_admin) | {
        f"template {model_admin.change_list_template or 'admin/change_list.html'}",
        f"filters {bool(model_admin.get_list_filter(request))}",
        f"search {bool(model_admin.get_search_fields(request))}",
        f"dates {bool(model_admin.date_hierarchy)}",
        f"editable {bool(model_admin.list_editable)}",
    }


def _form_features(model_admin: ModelAdmin[Any], request: HttpRequest, obj: Any) -> set[str]:
    features = _scripts(model_admin) | _widgets(model_admin.get_form(request, obj).base_fields)
    for inline in model_admin.get_inline_instances(request, obj):
        features.add(f"inline {inline.template}")
        features |= _widgets(inline.get_formset(request, obj).form.base_fields, f"inline {inline.template}")
    return features | {
        f"template {model_admin.change_form_template or 'admin/change_form.html'}",
        f"read-only fields {bool(model_admin.get_readonly_fields(request, obj))}",
        f"fieldsets {bool(model_admin.get_fieldsets(request, obj)[1:])}",
        f"editable {model_admin.has_change_permission(request, obj)}",
    }


def admin_kinds(site: AdminSite, request: HttpRequest) -> AdminKinds:
    """Which of the admin's changelists, change forms (a model's first object) and add forms to walk:
    as few as show every template, filter bar, inline, widget and script the models' pages use (a
    greedy cover); every other page of a model counts as a kind already walked.

    ``request`` is a superuser's, who sees every model.
    """
    kinds = AdminKinds()
    candidates: dict[str, list[tuple[str, str, set[str]]]] = {"changelist": [], "change": [], "add": []}
    for model, model_admin in site._registry.items():
        meta = model._meta
        base = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        kinds.apps.add(meta.app_label)
        kinds.models[base] = {}
        candidates["changelist"].append((base, base, _changelist_features(model_admin, request)))
        obj = model_admin.get_queryset(request).order_by("pk").first()
        if obj is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
            candidates["change"].append((base, change, _form_features(model_admin, request, obj)))
        if model_admin.has_add_permission(request):
            add = reverse(f"admin:{meta.app_label}_{meta.model_name}_add")
            candidates["add"].append((base, add, _form_features(model_admin, request, None)))
    for view, pages in candidates.items():
        covered: set[str] = set()
        while pages:
            base, path, features = max(pages, key=lambda page: len(page[2] - covered))
            if not features - covered:
                break
            name = f"admin {view} {sum(k.startswith(f'admin {view} ') for k in kinds.pages) + 1}"
            kinds.pages[name] = path
            kinds.models[base][view] = name
            covered |= features
            pages.remove((base, path, features))
        first = f"admin {view} 1"
        for base, _path, _features in pages:  # shown by the pages walked
            kinds.models[base][view] = first
    return kinds


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations in the page (axe injected once per document)."""
    from axe_playwright_python.base import AXE_SCRIPT

    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SCRIPT)
    options = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
    return list(page.evaluate("(options) => axe.run(document, options).then((r) => r.violations)", options))


def check_page(page: Page, user: str, url: str) -> Iterator[Finding]:
    """The current page at phone size (axe and tap targets), then, where the layout changes with the
    width, at desktop size (the same document, resized; axe again)."""
    sizes = [("phone", PHONE)] + ([("desktop", DESKTOP)] if WIDE_LAYOUT.match(url) else [])
    for name, size in sizes:
        if page.viewport_size != size:
            page.set_viewport_size(size)
        for violation in axe_violations(page):
            targets = "; ".join(" ".join(node["target"]) for node in violation["nodes"][:6])
            yield Finding(
                user, url, name, violation["id"], f"{violation['help']} ({len(violation['nodes'])}): {targets}"
            )
        if name == "phone":
            for target in page.evaluate(TARGETS_SCRIPT, MIN_TARGET):
                yield Finding(user, url, "phone", "tap-target", target)


def same_site_links(page: Page, base_url: str) -> list[str]:
    """The paths of the page's links to the site, once each, in the page's order."""
    hrefs: list[str] = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
    base = urlsplit(base_url)
    out = []
    for href in hrefs:
        parts = urlsplit(href)
        if parts.netloc != base.netloc or SKIP.search(parts.path):
            continue
        out.append(parts.path)
    return list(dict.fromkeys(out))


def walk_user(
    context: BrowserContext,
    base_url: str,
    user: str,
    starts: Iterable[str],
    seeds: Iterable[str] = (),
    *,
    walk: Walk,
    max_pages: int = 60,
    follow: bool = True,
    kind: Callable[[str], str] = shape,
) -> None:
    """Open ``starts`` (always checked), ``seeds`` and every same-site page they lead to (one per kind)."""
    page = context.new_page()
    queue = [(path, True) for path in starts] + [(path, False) for path in seeds]
    checked = 0
    while queue and checked < max_pages:
        path, start = queue.pop(0)
        if not start and kind(path) in walk.seen:
            continue
        walk.seen.add(kind(path))
        if page.viewport_size != PHONE:
            page.set_viewport_size(PHONE)
        response = page.goto(base_url + path)
        if response is None or response.status >= 400:
            status = response.status if response is not None else "no answer"
            walk.findings.append(Finding(user, path, "phone", "http", f"answered {status}"))
            continue
        landed = urlsplit(page.url).path
        if f"{user} {landed}" in walk.pages or (landed != path and not start and kind(landed) in walk.seen):
            continue  # a redirect to a page already checked
        walk.seen.add(kind(landed))
        walk.kinds.setdefault(kind(landed), f"{user} {landed}")
        checked += 1
        walk.pages[f"{user} {landed}"] = int(page.evaluate("document.documentElement.scrollHeight"))
        # A start page holding what another user's same page held (the same sections, forms and
        # tables) is the same kind of page: its checks would repeat theirs.
        content = f"{landed} {page.evaluate(CONTENT_SCRIPT)}"
        if content not in walk.contents:
            walk.contents.add(content)
            walk.findings.extend(check_page(page, user, landed))
            walk.axe_runs += 2 if WIDE_LAYOUT.match(landed) else 1
        if walk.foreign_words is not None:
            walk.findings.extend(
                Finding(user, landed, "phone", "language", word) for word in walk.foreign_words(page.content())
            )
        if follow:
            queue.extend((link, False) for link in same_site_links(page, base_url) if kind(link) not in walk.seen)
    page.close()


def sign_in(context: BrowserContext, base_url: str, username: str, password: str) -> None:
    page = context.new_page()
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    page.close()


def walk_site(
    browser: Browser,
    base_url: str,
    users: Iterable[str],
    password: str,
    *,
    max_pages: int = 60,
    only: list[str] | None = None,
    kind: Callable[[str], str] = shape,
    seeds: Mapping[str, Iterable[str]] | None = None,
    foreign_words: Callable[[str], list[str]] | None = None,
) -> Walk:
    """Signed out (the sign-in pages), then each user in a fresh context of the same browser.

    ``only``: check just these paths (no links followed), for each user. ``kind``: the key of a page's
    kind (one page checked per kind). ``seeds``: more pages to open, by user (the admin's kinds for
    a superuser, pages no link leads to). ``foreign_words``: the words of a page's HTML that must not
    be there (checked on every page opened, not once per kind).
    """
    walk = Walk(foreign_words=foreign_words)
    # The service worker is kept out: the walk checks the server's pages, not the worker's cache.
    context = browser.new_context(viewport=PHONE, service_workers="block", locale=LOCALE)
    if not only:
        walk_user(context, base_url, "anonymous", SIGNED_OUT, walk=walk, follow=False, kind=kind)
    context.close()
    for user in users:
        context = browser.new_context(viewport=PHONE, service_workers="block", locale=LOCALE)
        sign_in(context, base_url, user, password)
        if only:
            walk_user(context, base_url, user, only, walk=walk, follow=False, kind=kind)
        else:
            extra = list((seeds or {}).get(user, ()))
            walk_user(context, base_url, user, STARTS, SEEDS + extra, max_pages=max_pages, walk=walk, kind=kind)
        context.close()
    return walk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", action="append", help="demo user(s); default: every demo role")
    parser.add_argument("--password", default="fieldteam-demo")
    parser.add_argument("--max-pages", type=int, default=60)
    parser.add_argument("--only", action="append", help="check just this path (repeatable)")
    args = parser.parse_args()
    users = args.user or ["admin", "canbo.tinh", "canbo.xa", "xem.tinh", "totruong.01", "thanhvien.01.1"]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium.EXECUTABLE), args=chromium.ARGS)
        walk = walk_site(
            browser, args.base_url.rstrip("/"), users, args.password, max_pages=args.max_pages, only=args.only
        )
        browser.close()
    for name, height in walk.pages.items():
        print(f"{height:>7} px  {name}")  # noqa: T201
    for finding in walk.findings:
        print(finding)  # noqa: T201
    print(f"{len(walk.pages)} pages, {len(walk.findings)} findings")  # noqa: T201


if __name__ == "__main__":
    main()
