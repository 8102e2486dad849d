"""The dashboard shows the official rate first, the register's rate, the coverage and the warnings."""

from __future__ import annotations

from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.translation import gettext as _

from fieldteam.periods import Period
from fieldteam.selectors import frames
from fieldteam.selectors.reports import periodic_report
from tests.dashboards.conftest import login
from tests.factories import OfficialPopulationFactory


def url(area) -> str:
    return reverse("dashboards:area", kwargs={"area_id": area.pk})


def test_a_village_card_shows_the_three_values_official_first(client, scenario):
    # Thôn 1 has 4 adults registered, 3 with a smartphone; officially 10 adults.
    OfficialPopulationFactory(area=scenario.tree.village, year=2026, total=25, age_18_plus=10)

    html = login(client, scenario.province_officer).get(url(scenario.tree.village), HTTP_ACCEPT_LANGUAGE="en")
    page = html.content.decode()
    card = page[page.index(f'id="indicator-{scenario.adults.code}"') :]
    card = card[: card.index("</article>")]

    assert "over the official population" in card
    assert card.index("30.0%") < card.index("75.0%")  # official (3/10) before the register's (3/4)
    assert "Register coverage: 40.0%" in card
    assert "the village&#x27;s own figure, 2026" in card or "the village's own figure, 2026" in card


def test_no_figure_says_so_and_a_low_figure_warns(client, scenario):
    login(client, scenario.province_officer)
    page = client.get(url(scenario.tree.village), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "No official population figure" in page

    OfficialPopulationFactory(area=scenario.tree.village, year=2026, total=3, age_18_plus=1)
    page = client.get(url(scenario.tree.village), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "More people hold it than the official population counts" in page
    assert "below the register" in page


def test_the_ranking_cells_show_the_official_rate_and_the_province_costs_one_query_more(client, scenario):
    login(client, scenario.province_officer)
    province = scenario.tree.province

    def queries() -> int:
        frames.clear_caches()  # each view reads its frames (PostgreSQL keeps them until their rows change)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url(province)).status_code == 200
        return len(captured)

    before = queries()
    for village in (scenario.tree.village, scenario.tree.village2):
        OfficialPopulationFactory(area=village, year=2026, total=40, age_18_plus=20)
    assert queries() == before

    page = client.get(url(scenario.tree.commune), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Official: 15.0 · register: 75.0 · coverage: 20.0" in page  # Thôn 1: 3 of 20 official adults


def test_the_report_gives_the_official_value_first(scenario):
    OfficialPopulationFactory(area=scenario.tree.village, year=2026, total=25, age_18_plus=10)
    user, area, period = scenario.commune_officer, scenario.tree.village, Period.parse("2026-06")

    document = periodic_report(user=user, area=area, period=period)

    table = document.tables[0]
    labels = [c.label for c in table.columns]
    row = next(r for r in table.rows if r[1] == scenario.adults.code)
    official = labels.index(str(_("Value over the official population")))
    register = labels.index(str(_("Value")))
    assert official < register
    assert (row[official], row[official + 1], row[register]) == (Decimal("30.000"), 10, Decimal("75.000"))
    assert row[labels.index(str(_("Register coverage (%)")))] == Decimal("40.000")


def test_a_commune_missing_figures_says_which_once_on_its_row_not_in_every_cell(client, scenario):
    """Why a ranking row has no official rate (the villages without a figure) is said once, on the
    area's name, not in the title of each of its cells (a province's page was 470 KB of it)."""
    # Thôn 1 has a figure, the commune's other village none: the commune's sum is missing.
    OfficialPopulationFactory(area=scenario.tree.village, year=2026, total=40, age_18_plus=20)
    login(client, scenario.province_officer)

    page = client.get(url(scenario.tree.province), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    ranking = page[page.index('<table class="rank">') :]
    ranking = ranking[: ranking.index("</table>")]
    link = f'href="{url(scenario.tree.commune)}?'
    row = next(tr for tr in ranking.split("<tr>") if link in tr)
    name_cell = row[: row.index("</th>")]
    assert f"missing for {scenario.tree.village2.name})" in name_cell
    cells = row[row.index("</th>") :]
    assert "missing for" not in cells  # no copy in the cells
    assert name_cell.count(f"missing for {scenario.tree.village2.name})") == 1  # each reason once
    assert cells.count("<td class") >= 2  # the cells are there, with their register values
