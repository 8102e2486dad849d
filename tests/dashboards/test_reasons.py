"""Not-done reasons on the dashboards and in the files (issue 17): the section, the lists, the report's sheet.

The directory's clock is 15 June 2026: the work below happened in May.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import translation

from fieldteam.choices import NotDoneReason, PeriodKind
from fieldteam.periods import Period
from fieldteam.selectors import reasons
from fieldteam.selectors.breakdowns import SUPPRESSED
from fieldteam.services import reports
from tests.conftest import AreaTree
from tests.dashboards.conftest import login
from tests.dashboards.test_reports import csv_sections, header, rows, workbook
from tests.selectors.test_reasons import OFFICE_ROLES, Field, office_sees, office_users


def may() -> Period:
    """May of the current year."""
    return Period(PeriodKind.MONTH, reports.today().replace(month=5, day=1))


@pytest.fixture
def field(area_tree: AreaTree) -> Field:
    """Village 1: 7 people without a device; village 2: 6 households without signal; the other commune: 2 lacking papers."""
    field = Field(area_tree)
    for person in field.people(area_tree.village, 7):
        field.log(person, "2026-05-04", (field.phone, NotDoneReason.NO_DEVICE))
    for _ in range(6):
        field.log(field.people(area_tree.village2, 1)[0], "2026-05-05", (field.phone, NotDoneReason.NO_SIGNAL))
    for person in field.people(area_tree.other_village, 2):
        field.log(person, "2026-05-06", (field.phone, NotDoneReason.MISSING_DOCUMENTS))
    return field


def vi(*texts: str) -> list[str]:
    """The texts in Vietnamese, the pages' and files' language."""
    with translation.override("vi"):
        return [translation.gettext(text) for text in texts]


def _list_url(area, kind: str, fmt: str, period: str = "2026-05") -> str:
    return f"{reverse('dashboards:reason_list', args=[area.pk, kind, fmt])}?{urlencode({'period': period})}"


def test_the_commune_dashboard_shows_the_reasons_and_links_the_lists(field: Field, client) -> None:
    tree = field.tree
    users = office_users(tree, field)
    page = login(client, users["commune_officer"]).get(reverse("dashboards:area", args=[tree.commune.pk]), {"period": "2026-05"})
    assert page.status_code == 200
    section = page.content.decode().split('<section id="reasons">', 1)[1].split("</section>", 1)[0]
    assert "Thôn 1" in section and "Thôn 2" in section
    assert "<td><b>6</b></td>" in section  # households without signal in the commune
    assert "<td><b>7</b></td>" in section  # people without a device
    assert _list_url(tree.commune, "no_signal", "xlsx").replace("&", "&amp;") in section


def test_no_section_on_a_village_dashboard_nor_for_a_team_member(field: Field, client) -> None:
    tree = field.tree
    users = office_users(tree, field)
    village_page = login(client, users["commune_officer"]).get(reverse("dashboards:area", args=[tree.village.pk]))
    assert village_page.status_code == 200
    assert 'id="reasons"' not in village_page.content.decode()
    member_page = login(client, users["member"]).get(reverse("dashboards:area", args=[tree.commune.pk]))
    assert member_page.status_code == 200
    assert 'id="reasons"' not in member_page.content.decode()


def test_the_list_as_csv_and_xlsx(field: Field, client) -> None:
    tree = field.tree
    officer = login(client, office_users(tree, field)["province_officer"])
    response = officer.get(_list_url(tree.province, "no_signal", "csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    (table,) = csv_sections(response.content)
    assert table[1] == vi("No.", "Commune", "Village", "Households without a signal")
    assert table[2:] == [["1", "Xã Ia Grai", "Thôn 2", "6"]]
    response = officer.get(_list_url(tree.province, "missing_documents", "xlsx"))
    sheet = workbook(response.content).active
    assert header(sheet) == vi("No.", "Commune", "Village", "People lacking papers")
    # 2 people: hidden, in the village and in its commune alike.
    assert rows(sheet) == [[1, "Xã Ia Hrung", "Làng Dố", SUPPRESSED]]
    for person in tree.other_village.residents.all():
        assert person.full_name.encode() not in response.content


def test_the_periodic_report_has_a_reasons_sheet_for_an_office(field: Field) -> None:
    tree = field.tree
    users = office_users(tree, field)
    report = reports.report_file(user=users["province_officer"], area=tree.province, period=may(), fmt="xlsx")
    sheet = workbook(report.content)[vi("Not-done reasons")[0]]
    assert header(sheet)[:2] == vi("Area", "Households without a signal")
    by_area = {row[0]: row[1:] for row in rows(sheet)}
    position = list(reasons.MEASURES).index(reasons.resident_measure(NotDoneReason.NO_DEVICE))
    assert by_area["Gia Lai"][0] == 6
    assert by_area["Xã Ia Grai"][position] == 7
    assert by_area["Xã Ia Hrung"][position] == 0
    member_report = reports.report_file(user=users["member"], area=tree.village, period=may(), fmt="csv")
    for text in vi("Not-done reasons", "People lacking papers"):
        assert text.encode() not in member_report.content


@pytest.mark.parametrize(
    ("kind", "fmt"), [("nobody", "csv"), ("no_signal", "pdf")]
)
def test_an_unknown_list_or_format_is_not_found(field: Field, client, kind: str, fmt: str) -> None:
    officer = login(client, office_users(field.tree, field)["superuser"])
    assert officer.get(_list_url(field.tree.commune, kind, fmt)).status_code == 404


def test_a_bad_period_goes_back_to_the_dashboard_with_a_message(field: Field, client) -> None:
    officer = login(client, office_users(field.tree, field)["superuser"])
    response = officer.get(_list_url(field.tree.commune, "no_signal", "csv", period="2026-13"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboards:area", args=[field.tree.commune.pk])
    assert "2026-03" in response.content.decode()  # how a period is written


@pytest.mark.parametrize("role", OFFICE_ROLES)
def test_every_role_against_the_list_downloads(field: Field, client, role: str) -> None:
    tree = field.tree
    signed_in = login(client, office_users(tree, field)[role])
    missing = signed_in.get(reverse("dashboards:reason_list", args=[987654321, "no_signal", "csv"]))
    assert missing.status_code == 404
    for area in (tree.province, tree.commune, tree.village2, tree.other_commune, tree.other_province, tree.far_village):
        url = reverse("dashboards:reason_list", args=[area.pk, "no_signal", "csv"])
        response = signed_in.get(url)
        if office_sees(role, tree, area):
            assert response.status_code == 200, (role, area.name)
        else:
            assert response.status_code == 404, (role, area.name)
            assert response.content.decode().replace(url, "<url>") == missing.content.decode().replace(
                reverse("dashboards:reason_list", args=[987654321, "no_signal", "csv"]), "<url>"
            )
