"""Breakdowns by sex and ethnic group (issue 15): the numbers, and small cells hidden in every output."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse

from fieldteam.choices import AdoptionSource, PeriodKind, Sex
from fieldteam.models import Resident
from fieldteam.periods import Period, today
from fieldteam.rollup import recompute
from fieldteam.selectors import reports as report_documents
from fieldteam.selectors.breakdowns import SUPPRESSED, Cell, area_breakdowns, suppress
from fieldteam.selectors.indicators import OutOfScope
from fieldteam.services import adoption, reports
from tests.factories import CapabilityFactory, HouseholdFactory, IndicatorFactory, ResidentFactory


def _people(village, capability, *, sex: str, ethnicity: str, holders: int, others: int) -> None:
    household = HouseholdFactory(village=village)
    for position in range(holders + others):
        resident = ResidentFactory(household=household, sex=sex, ethnicity=ethnicity, birth_year=1990)
        if position < holders:
            adoption.set_adoption(
                actor=None, capability=capability, since=dt.date(2025, 1, 1), source=AdoptionSource.SURVEY, resident=resident
            )


@pytest.fixture
def counted(area_tree):
    """Village 1: 10 Kinh women (6 hold it), 12 Tày men (3 hold it), 7 men with no ethnicity (7 hold it)."""
    capability = CapabilityFactory()
    indicator = IndicatorFactory(capability=capability, min_age=18)
    _people(area_tree.village, capability, sex=Sex.FEMALE, ethnicity="Kinh", holders=6, others=4)
    _people(area_tree.village, capability, sex=Sex.MALE, ethnicity="Tày", holders=3, others=9)
    _people(area_tree.village, capability, sex=Sex.MALE, ethnicity="", holders=7, others=0)
    # Village 2: 40 women, 20 of them holders, 10 Kinh; nobody else.
    _people(area_tree.village2, capability, sex=Sex.FEMALE, ethnicity=" KINH ", holders=5, others=5)
    _people(area_tree.village2, capability, sex=Sex.FEMALE, ethnicity="Ê Đê", holders=15, others=15)
    recompute.recompute_province(province_id=area_tree.province.pk)
    return indicator


def _month() -> Period:
    return Period.containing(PeriodKind.MONTH, today())


def test_the_group_is_derived_from_the_text_and_counted(area_tree, counted, superuser):
    assert set(Resident.objects.values_list("ethnicity", "ethnic_group").distinct()) == {
        ("Kinh", "kinh"), ("Tày", "minority"), ("", "unknown"), ("KINH", "kinh"), ("Ê Đê", "minority"),
    }
    (breakdown,) = area_breakdowns(user=superuser, area=area_tree.commune, period=_month())
    cells = breakdown.cells
    assert breakdown.total == (36, 69)
    assert (cells["women"].numerator, cells["women"].denominator) == (26, 50)
    assert (cells["men"].numerator, cells["men"].denominator) == (10, 19)
    assert (cells["minority"].numerator, cells["minority"].denominator) == (18, 42)
    # All 7 without a recorded ethnicity hold it (0 non-holders: a small cell), so their numerator
    # is hidden, and Kinh's (the smallest other) with it: minority = total - Kinh - unknown otherwise.
    assert (cells["kinh"].numerator, cells["kinh"].denominator) == (None, 20)
    assert (cells["unknown"].numerator, cells["unknown"].denominator) == (None, 7)
    assert breakdown.women_gap == cells["women"].value - cells["men"].value


def test_small_cells_and_those_that_would_reveal_them_are_hidden():
    published = suppress(
        {
            1: {"women": (3, 10), "men": (9, 12), "minority": (2, 3), "kinh": (10, 19), "unknown": (0, 0)},
        }
    )[1]
    # 3 holders among women: hidden, and men's too (the total minus men would give it).
    assert published["women"] == Cell(None, 10)
    assert published["men"].numerator is None
    # 3 minority residents: hidden, and the next smallest group of the partition (the empty one) with it.
    assert published["minority"] == Cell(None, None)
    assert published["unknown"] == Cell(None, None)
    assert published["kinh"] == Cell(10, 19)
    # Nearly all hold it: the non-holders (2) are a small cell too.
    assert suppress({1: {"women": (18, 20), "men": (10, 20), "minority": (0, 0), "kinh": (28, 40), "unknown": (0, 0)}})[1][
        "women"
    ].numerator is None


def test_a_hidden_cell_is_not_given_away_by_its_siblings():
    families = {
        "a": {"women": (6, 10), "men": (6, 10), "minority": (3, 3), "kinh": (9, 17), "unknown": (0, 0)},
        "b": {"women": (20, 40), "men": (20, 40), "minority": (20, 40), "kinh": (20, 40), "unknown": (0, 0)},
    }
    published = suppress(families)
    # "a" hides its 3 minority residents; "b"'s 40 would give them away from the commune's sum.
    assert published["a"]["minority"].denominator is None
    assert published["b"]["minority"].denominator is None


def test_a_province_sums_its_villages_in_the_database(area_tree, counted, superuser):
    """The province's own cells (no published siblings) are the sums of its villages' counts,
    added up by the database (a province has 60,000 village rows), the same as its commune's."""
    (province,) = area_breakdowns(user=superuser, area=area_tree.province, period=_month())
    (commune,) = area_breakdowns(user=superuser, area=area_tree.commune, period=_month())
    assert province.total == commune.total == (36, 69)  # all the counted people live in the commune
    assert (province.cells["women"].numerator, province.cells["women"].denominator) == (26, 50)
    assert (province.cells["minority"].numerator, province.cells["minority"].denominator) == (18, 42)
    assert province.cells == commune.cells


def test_the_dashboard_report_and_api_hide_the_same_cells(client, area_tree, counted, superuser):
    # Village 1: 7 men with no ethnicity all hold it (non-holders 0 is fine, 7 >= 5) but women
    # holders 6 of 10 leave 4 non-holders: hidden everywhere.
    (breakdown,) = area_breakdowns(user=superuser, area=area_tree.village, period=_month())
    assert breakdown.cells["women"].numerator is None
    client.force_login(superuser)

    page = client.get(reverse("dashboards:area", args=[area_tree.village.pk]))
    assert page.status_code == 200
    section = page.content.decode().split('id="breakdowns"')[1].split("</section>")[0]
    assert f"{SUPPRESSED}/10" in section.replace("&lt;", "<")

    answer = client.get(reverse("api:area-breakdowns", args=[area_tree.village.pk]))
    women = answer.json()["indicators"][0]["groups"]["women"]
    assert women == {"numerator": None, "denominator": 10, "value": None, "suppressed": True}

    document = report_documents.periodic_report(user=superuser, area=area_tree.village, period=_month())
    (table,) = [t for t in document.tables if t.sheet == str(report_documents.SHEET_BREAKDOWNS)]
    women_row = next(row for row in table.rows if row[1] == "Phụ nữ" or row[1] == "Women")
    assert women_row[2:] == [SUPPRESSED, 10, SUPPRESSED]
    content = reports.report_file(user=superuser, area=area_tree.village, period=_month(), fmt="csv").content
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    assert any(row[2:5] == [SUPPRESSED, "10", SUPPRESSED] for row in csv.reader(io.StringIO(text)) if len(row) >= 5)


def test_an_area_out_of_scope_is_not_found(area_tree, counted, commune_officer, client):
    with pytest.raises(OutOfScope):
        area_breakdowns(user=commune_officer, area=area_tree.other_village, period=_month())
    client.force_login(commune_officer)
    assert client.get(reverse("api:area-breakdowns", args=[area_tree.other_village.pk])).status_code == 404
    bad = client.get(reverse("api:area-breakdowns", args=[area_tree.village.pk]), {"period": "2026-13"})
    assert bad.status_code == 400 and "period" in bad.json()["errors"]
