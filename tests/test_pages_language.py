"""Every page, as every role, reads in Vietnamese: names first, dates one way (issue 16, Language).

The pages are rendered by the server as each role meets them (the admin with its import, export
and job pages, the dashboards, the field app) in Vietnamese, and their visible text (text nodes
and the attributes people read: ``title``, ``aria-label``, ``placeholder``, ``alt``, button values)
is searched for words of a list of English the interface used. Names and codes are data, not
interface, and are left out: words with digits, ``_`` or ``@`` are dropped, and the data made here
is Vietnamese. The browser tests (``tests/web``, axe) see what scripts draw; this sees the rest.

``tests/test_translations.py`` checks the catalogue side (every message extractable and translated).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone, translation

from fieldteam import names
from fieldteam.choices import AreaRoleKind, AssistanceChannel, AssistanceOutcome, MembershipRole, Sex
from fieldteam.models import BackgroundJob, Household, Resident, User
from fieldteam.selectors.activity import _display_name
from fieldteam.services.assistance import ItemInput, log_assistance
from tests.conftest import AreaTree
from tests.factories import (
    AreaRoleFactory,
    CapabilityFactory,
    HouseholdFactory,
    IndicatorFactory,
    MembershipFactory,
    ResidentFactory,
    TeamFactory,
    UserFactory,
)
from tests.imports.conftest import RESIDENT_HEADERS, resident_row, write_xlsx

pytestmark = pytest.mark.django_db

# English the interface has shown (issue 16), and common words of its stock texts. Whole words,
# case as written ("No" is no Vietnamese word capitalised; "the" is none either).
ENGLISH_WORDS = (
    "the The and of your Your this This Upload Download Column Columns Required Example First rows "
    "Import Export Skip Toggle theme Add Change Delete Save Search Filter Home View Show Hide counts Yes No "
    "None Unknown Date Name File Format Dry run Select selected action Go Cancel Sign Password History "
    "Help Team Members Residents Households Village Province Commune Indicators Report Started Queued "
    "Running Done Failed Month Quarter Year Today Total Target Back Next Previous Page Please error "
    "errors Error Breadcrumbs Sidebar navigation Enabled Disabled Email Sunday Monday January"
).split()
ENGLISH = re.compile(r"(?<![\w-])(?:" + "|".join(ENGLISH_WORDS) + r")(?![\w-])")
# Dates in any other way than dd/mm/yyyy: "31-08-2026", "7/12/2026", "7/12/26", "Ngày 07 tháng 12 năm 2026".
OTHER_DATES = re.compile(
    r"\b\d{1,2}-\d{1,2}-\d{4}\b|(?<![\d/])\d/\d{1,2}/\d{2,4}\b|\b\d{1,2}/\d/\d{2,4}\b"
    r"|\b\d{1,2}/\d{1,2}/\d{2}(?![\d/])|Ngày \d+ tháng"
)
DATA_TOKEN = re.compile(r"\S*[\d_@]\S*")
READ_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt"}


class _VisibleText(HTMLParser):
    """The text a person reads on a page: text nodes (no script or style) and read attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template"):
            self._hidden += 1
        values = dict(attrs)
        self.parts.extend(v for k, v in attrs if k in READ_ATTRIBUTES and v)
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.parts.append(values["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def english_in(html: str, *, context: int = 0) -> list[str]:
    """The English words of the list on a page (with ``context`` characters around each, to find it)."""
    text = DATA_TOKEN.sub(" ", visible_text(html))
    if not context:
        return sorted({m[0] for m in ENGLISH.finditer(text)})
    return sorted(
        {f"{m[0]}: …{text[max(0, m.start() - context) : m.end() + context]}…" for m in ENGLISH.finditer(text)}
    )


# --- the checks, on small examples ----------------------------------------------------------------


def test_the_word_list_finds_english_and_leaves_vietnamese_names_and_codes() -> None:
    page = (
        '<a href="#content" class="skip">Skip to main content</a><script>var Upload = 1;</script>'
        '<button title="Toggle theme"></button><p>Tải lên · Nguyễn Thị Thu · thanhvien.01.1 · capability_7</p>'
        '<input type="submit" value="Upload">'
    )
    assert english_in(page) == ["Skip", "Toggle", "Upload", "theme"]
    assert english_in("<p>Tải lên · Nguyễn Thị Thu · smartphone_x · 31/08/2026 07:05</p>") == []


def test_other_date_forms_are_found() -> None:
    for text in ("31-08-2026", "7/12/2026", "03:59 7/12/26", "07/12/26", "Ngày 07 tháng 12 năm 2026"):
        assert OTHER_DATES.search(text), text
    assert not OTHER_DATES.search("07/12/2026 03:59, tháng 12/2026, 1/2026")


# --- one name rule ----------------------------------------------------------------------------------


def test_a_person_is_named_family_name_first_everywhere() -> None:
    user = User(username="canbo.tinh", first_name="Hà", last_name="Trần Thu")

    assert names.display_name(family="Trần Thu", given="Hà") == "Trần Thu Hà"
    assert user.get_full_name() == user.display_name == "Trần Thu Hà"
    assert str(user) == "Trần Thu Hà (canbo.tinh)"
    # The activity table reads the same rule from values, without loading users.
    assert _display_name("Hà", "Trần Thu", "canbo.tinh") == "Trần Thu Hà"
    # A name entered whole in one field (an ethnic-minority name in its own order) shows as entered.
    assert User(username="u", first_name="", last_name="Y Blih Niê").display_name == "Y Blih Niê"
    assert User(username="u", first_name="Y Blih Niê").display_name == "Y Blih Niê"
    assert User(username="thanhvien.01.1").display_name == "thanhvien.01.1"


# --- one date format --------------------------------------------------------------------------------


def test_dates_are_written_dd_mm_yyyy_and_hh_mm_in_vietnamese() -> None:
    when = dt.datetime(2026, 12, 6, 20, 59, tzinfo=dt.UTC)  # 03:59 in Hồ Chí Minh City
    with translation.override("vi"):
        assert formats.date_format(dt.date(2026, 8, 31)) == "31/08/2026"
        assert formats.date_format(dt.date(2026, 8, 31), "SHORT_DATE_FORMAT") == "31/08/2026"
        assert formats.date_format(timezone.localtime(when), "SHORT_DATETIME_FORMAT") == "07/12/2026 03:59"
        assert formats.date_format(timezone.localtime(when), "DATETIME_FORMAT") == "07/12/2026 03:59"
        assert formats.time_format(timezone.localtime(when).time()) == "03:59"
        assert formats.get_format("DATE_INPUT_FORMATS")[0] == "%d/%m/%Y"


# --- the pages --------------------------------------------------------------------------------------


@pytest.fixture
def world(area_tree: AreaTree, settings, tmp_path, django_capture_on_commit_callbacks) -> dict[str, object]:
    settings.MEDIA_ROOT = tmp_path / "media"
    smartphone = CapabilityFactory(code="smartphone", name="Có điện thoại thông minh", sort_order=10)
    CapabilityFactory(code="payment_account", name="Có tài khoản thanh toán", sort_order=20)
    CapabilityFactory(code="basic_digital_skills", name="Có kỹ năng số cơ bản", sort_order=30)
    CapabilityFactory(code="fibre_broadband", name="Hộ có cáp quang", for_household=True, sort_order=40)
    IndicatorFactory(capability=smartphone, name="Tỷ lệ người trưởng thành có điện thoại thông minh")
    team = TeamFactory(village=area_tree.village, name="Tổ công nghệ số cộng đồng Thôn 1")
    leader = MembershipFactory(
        team=team, role=MembershipRole.LEADER, user__last_name="Rơ Mah", user__first_name="Bình"
    ).user
    member = MembershipFactory(team=team, user__last_name="Trần Thu", user__first_name="Hà").user
    household = HouseholdFactory(village=area_tree.village, head_name="Nguyễn Văn An")
    resident = ResidentFactory(household=household, full_name="Nguyễn Thị Lan", sex=Sex.FEMALE, birth_year=1990)
    log_assistance(
        actor=member,
        team=team,
        occurred_at=timezone.now() - dt.timedelta(days=1),
        channel=AssistanceChannel.HOME_VISIT,
        items=[ItemInput(smartphone, AssistanceOutcome.DONE)],
        resident=resident,
    )
    officers = {
        role: AreaRoleFactory(area=area, role=role, user__last_name="Lê Văn", user__first_name="Minh").user
        for role, area in (
            (AreaRoleKind.PROVINCE_OFFICER, area_tree.province),
            (AreaRoleKind.COMMUNE_OFFICER, area_tree.commune),
            (AreaRoleKind.VIEWER, area_tree.province),
        )
    }
    superuser = UserFactory(superuser=True, username="admin", first_name="Quản trị", last_name="")
    # A dry run of an import, with its preview, errors and rejected rows: the job page shows them all.
    rows = [
        resident_row(area_tree.village.code, household="A", name="Phạm Văn Dũng", sex="Nam", serial=1, smartphone="có"),
        resident_row(area_tree.village.code, household="B", name="Lỗi Số", phone="123", serial=3),
    ]
    upload = write_xlsx(tmp_path / "danh-sach.xlsx", RESIDENT_HEADERS, rows)
    client = Client()
    client.force_login(officers[AreaRoleKind.COMMUNE_OFFICER])
    with translation.override("vi"), django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:fieldteam_resident_import"),
            {"import_file": SimpleUploadedFile("danh-sach.xlsx", upload.read_bytes()), "dry_run": "on"},
            HTTP_ACCEPT_LANGUAGE="vi",
        )
    return {
        "tree": area_tree,
        "superuser": superuser,
        "leader": leader,
        "member": member,
        "household": household,
        "resident": resident,
        "job": BackgroundJob.objects.get(),
        **officers,
    }


def _admin_pages(world: dict[str, object]) -> list[str]:
    job = world["job"]
    assert isinstance(job, BackgroundJob)
    pages = [reverse("admin:index")]
    for model in admin.site._registry:
        if model._meta.app_label != "fieldteam":
            continue
        pages.append(reverse(f"admin:fieldteam_{model._meta.model_name}_changelist"))
        for view in ("import", "export"):
            with contextlib.suppress(NoReverseMatch):
                pages.append(reverse(f"admin:fieldteam_{model._meta.model_name}_{view}"))
    household = world["household"]
    resident = world["resident"]
    assert isinstance(household, Household) and isinstance(resident, Resident)
    return [
        *pages,
        reverse("admin:fieldteam_backgroundjob_change", args=[job.pk]),
        reverse("admin:fieldteam_backgroundjob_confirm", args=[job.pk]),
        reverse("admin:fieldteam_household_change", args=[household.pk]),
        reverse("admin:fieldteam_resident_change", args=[resident.pk]),
        reverse("admin:fieldteam_resident_add"),
        reverse("admin:password_change"),
    ]


def _dashboard_pages(world: dict[str, object]) -> list[str]:
    tree = world["tree"]
    assert isinstance(tree, AreaTree)
    return [
        reverse("dashboards:home"),
        *(reverse("dashboards:area", args=[a.pk]) for a in (tree.province, tree.commune)),
    ]


def _field_pages(world: dict[str, object]) -> list[str]:
    tree = world["tree"]
    household = world["household"]
    resident = world["resident"]
    assert isinstance(tree, AreaTree) and isinstance(household, Household) and isinstance(resident, Resident)
    return [
        reverse("web:home"),
        reverse("web:search") + "?q=Lan",
        reverse("web:resident", args=[resident.pk]),
        reverse("web:household", args=[household.pk]),
        reverse("web:register"),
        reverse("web:training"),
        reverse("web:history"),
        reverse("web:outbox"),
        reverse("web:offline"),
        reverse("web:work", args=[tree.village.pk, "smartphone"]),
    ]


ROLES = {
    "superuser": ("admin", "dashboards"),
    AreaRoleKind.PROVINCE_OFFICER: ("admin", "dashboards"),
    AreaRoleKind.COMMUNE_OFFICER: ("admin", "dashboards"),
    AreaRoleKind.VIEWER: ("admin", "dashboards"),
    "leader": ("field", "dashboards"),
    "member": ("field",),
}


@pytest.mark.parametrize("role", list(ROLES))
def test_every_page_a_role_meets_reads_in_vietnamese(world: dict[str, object], role: str) -> None:
    user = world[role]
    assert isinstance(user, User)
    client = Client(HTTP_ACCEPT_LANGUAGE="vi")
    client.force_login(user)
    pages = {
        "admin": _admin_pages,
        "dashboards": _dashboard_pages,
        "field": _field_pages,
    }
    found: dict[str, list[str]] = {}
    dates: dict[str, list[str]] = {}
    seen = 0
    for group in ROLES[role]:
        for url in pages[group](world):
            with translation.override("vi"):
                response = client.get(url)
            if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                continue
            seen += 1
            html = response.content.decode()
            if english := english_in(html, context=40):
                found[url] = english
            if other := [m[0] for m in OTHER_DATES.finditer(visible_text(html))]:
                dates[url] = other
            display = user.display_name
            if group == "dashboards" and display != user.username:
                # The header names the signed-in person family name first.
                assert display in html, url
    assert seen >= 3
    if found or dates:
        report = [f"{url}: {word}" for url, words in found.items() for word in words]
        report += [f"{url}: date written {date!r}" for url, written in dates.items() for date in written]
        pytest.fail("English or another date form on the pages:\n" + "\n".join(report), pytrace=False)


def test_the_member_history_and_the_job_page_name_people_family_name_first(world: dict[str, object]) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="vi")
    leader = world["leader"]
    assert isinstance(leader, User)
    client.force_login(leader)
    resident = world["resident"]
    assert isinstance(resident, Resident)
    with translation.override("vi"):
        page = client.get(reverse("web:resident", args=[resident.pk])).content.decode()
    assert "Trần Thu Hà" in page and "Hà Trần Thu" not in page

    superuser = world["superuser"]
    assert isinstance(superuser, User)
    client.force_login(superuser)
    job = world["job"]
    assert isinstance(job, BackgroundJob)
    with translation.override("vi"):
        page = client.get(reverse("admin:fieldteam_backgroundjob_change", args=[job.pk])).content.decode()
    assert "Lê Văn Minh" in page and "Minh Lê Văn" not in page
    assert "Nhập hộ gia đình và người dân từ tệp" in page
    assert "Có điện thoại thông minh" in page and "smartphone" not in visible_text(page)
