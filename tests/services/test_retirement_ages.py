"""Retirement ages by birth cohort (Decree 135/2020/NĐ-CP, Appendix I) against the rule they come from.

Labour Code 2019, art. 169: under normal working conditions men retire at 60 years 3 months in 2021,
3 months more each year until 62 (2028); women at 55 years 4 months in 2021, 4 months more each year
until 60 (2035); before 2021, 60 and 55. The age that applies is the one of the year a person reaches
it, so Appendix I lists it by month and year of birth. Here the whole table is derived from that rule
(every birth month 1961-1980) and ``fixtures/retirement_ages.json`` and the counting rules' working-age
bound (``rollup.rules.retired_by``) are held to it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from django.conf import settings

from fieldteam.choices import Sex
from fieldteam.periods import month_index
from fieldteam.rollup.rules import retired_by, retirement_cohorts
from tests.factories import RetirementAgeFactory

# Per sex: the age before 2021, the age in 2021, the yearly step and the final age (months).
RAMP = {Sex.MALE: (60 * 12, 60 * 12 + 3, 3, 62 * 12), Sex.FEMALE: (55 * 12, 55 * 12 + 4, 4, 60 * 12)}
FIRST_RAMP_YEAR = 2021
BIRTH_MONTHS = range(month_index(dt.date(1961, 1, 1)), month_index(dt.date(1980, 12, 1)) + 1)


def age_in_year(sex: str, year: int) -> int:
    """The retirement age (months) of those who reach it in ``year`` (art. 169)."""
    before, first, step, final = RAMP[sex]
    if year < FIRST_RAMP_YEAR:
        return before
    return min(first + step * (year - FIRST_RAMP_YEAR), final)


def age_by_rule(sex: str, birth_month: int) -> int:
    """The retirement age of someone born in ``birth_month`` (a month index): the age of the year they reach it."""
    for year in range(birth_month // 12 + 50, birth_month // 12 + 70):
        reached = birth_month + age_in_year(sex, year)
        if year * 12 <= reached <= year * 12 + 11:
            return age_in_year(sex, year)
    raise AssertionError(f"no year reaches the age for {sex} born {birth_month}")


def decree_135_cohorts() -> dict[str, list[tuple[dt.date, int]]]:
    """The table as cohorts (first birth month, age in months), derived from the rule.

    Those who reach the age in year ``y`` start at the first birth month that had not reached the
    previous year's age before ``y`` began: ``y * 12 - age(y - 1)``. The first row (1900) holds the
    age before the ramp for everyone born earlier, as the fixture's first row does.
    """
    cohorts: dict[str, list[tuple[dt.date, int]]] = {}
    for sex, (before, _first, _step, final) in RAMP.items():
        rows = [(dt.date(1900, 1, 1), before)]
        year = FIRST_RAMP_YEAR
        while rows[-1][1] < final:
            start = year * 12 - age_in_year(sex, year - 1)
            rows.append((dt.date(start // 12, start % 12 + 1, 1), age_in_year(sex, year)))
            year += 1
        cohorts[sex] = rows
    return cohorts


def _fixture_rows() -> list[dict]:
    path = Path(settings.BASE_DIR) / "fixtures" / "retirement_ages.json"
    return json.loads(path.read_text(encoding="utf-8"))["rows"]


def _first_day(born_from: str) -> dt.date:
    """``YYYY-MM`` (the fixture's cohort start) as the first day of that month."""
    year, month = born_from.split("-")
    return dt.date(int(year), int(month), 1)


def _age_in_table(rows: list[tuple[int, int]], birth_month: int) -> int:
    """The age of the last cohort starting at or before ``birth_month`` (the first for anyone earlier)."""
    ages = [months for start, months in rows if start <= birth_month]
    return ages[-1] if ages else rows[0][1]


@pytest.mark.parametrize("sex", [Sex.MALE, Sex.FEMALE])
def test_every_birth_month_of_the_fixture_has_the_rule_s_age(sex):
    rows = sorted(
        (month_index(_first_day(row["born_from"])), row["age_months"])
        for row in _fixture_rows()
        if row["sex"] == sex
    )
    wrong = {
        f"{month % 12 + 1:02}/{month // 12}": (_age_in_table(rows, month), age_by_rule(sex, month))
        for month in BIRTH_MONTHS
        if _age_in_table(rows, month) != age_by_rule(sex, month)
    }
    assert wrong == {}
    # Before the ramp: 60 / 55 for everyone born earlier.
    assert _age_in_table(rows, month_index(dt.date(1960, 12, 1))) == RAMP[sex][0]


def test_the_fixture_is_the_derived_table_row_for_row():
    derived = decree_135_cohorts()
    stored = {
        sex: [(_first_day(row["born_from"]), row["age_months"]) for row in _fixture_rows() if row["sex"] == sex]
        for sex in (Sex.MALE, Sex.FEMALE)
    }
    assert stored == derived
    assert (len(derived[Sex.MALE]), len(derived[Sex.FEMALE])) == (1 + 8, 1 + 15)


# Rows of Appendix I as the decree prints them: month of birth, retirement age, month the pension
# starts (the month after the age is reached). Nghị định 135/2020/NĐ-CP ngày 18/11/2020, Phụ lục I
# "Lộ trình điều chỉnh tuổi nghỉ hưu đối với người lao động trong điều kiện lao động bình thường".
DECREE_ROWS = [
    (Sex.MALE, "Tháng 01/1961", "60 tuổi 3 tháng", "Tháng 5/2021"),
    (Sex.MALE, "Tháng 9/1961", "60 tuổi 3 tháng", "Tháng 01/2022"),
    (Sex.MALE, "Tháng 10/1961", "60 tuổi 6 tháng", "Tháng 5/2022"),
    (Sex.MALE, "Tháng 01/1964", "61 tuổi 3 tháng", "Tháng 5/2025"),
    (Sex.MALE, "Tháng 3/1966", "61 tuổi 9 tháng", "Tháng 01/2028"),
    (Sex.MALE, "Tháng 4/1966", "62 tuổi", "Tháng 5/2028"),
    (Sex.FEMALE, "Tháng 01/1966", "55 tuổi 4 tháng", "Tháng 6/2021"),
    (Sex.FEMALE, "Tháng 8/1966", "55 tuổi 4 tháng", "Tháng 01/2022"),
    (Sex.FEMALE, "Tháng 9/1966", "55 tuổi 8 tháng", "Tháng 6/2022"),
    (Sex.FEMALE, "Tháng 9/1968", "56 tuổi 8 tháng", "Tháng 6/2025"),
    (Sex.FEMALE, "Tháng 4/1975", "59 tuổi 8 tháng", "Tháng 01/2035"),
    (Sex.FEMALE, "Tháng 5/1975", "60 tuổi", "Tháng 6/2035"),
]


def _month(text: str) -> int:
    month, year = text.removeprefix("Tháng ").split("/")
    return int(year) * 12 + int(month) - 1


def _age(text: str) -> int:
    parts = text.replace(" tháng", "").split(" tuổi")
    return int(parts[0]) * 12 + (int(parts[1]) if parts[1].strip() else 0)


@pytest.mark.parametrize(("sex", "born", "age", "pension"), DECREE_ROWS)
def test_rows_quoted_from_the_decree(sex, born, age, pension):
    birth_month = _month(born)
    assert age_by_rule(sex, birth_month) == _age(age)
    assert birth_month + _age(age) + 1 == _month(pension)
    rows = [(month_index(start), months) for start, months in decree_135_cohorts()[sex]]
    assert _age_in_table(rows, birth_month) == _age(age)


@pytest.mark.django_db
@pytest.mark.parametrize("sex", [Sex.MALE, Sex.FEMALE])
def test_working_age_ends_in_the_month_each_birth_month_reaches_its_age(sex):
    """For every month 2020-2045, the counting rules retire exactly those born in months that have
    reached their cohort's age by its end (the fixture's rows, as ``load_reference`` stores them)."""
    for row in _fixture_rows():
        RetirementAgeFactory(
            sex=row["sex"],
            born_from=_first_day(row["born_from"]),
            age_months=row["age_months"],
        )
    cohorts = retirement_cohorts()[sex]
    births = range(month_index(dt.date(1950, 1, 1)), month_index(dt.date(1990, 12, 1)) + 1)
    wrong = {}
    for month in range(month_index(dt.date(2020, 1, 1)), month_index(dt.date(2045, 12, 1)) + 1):
        retired = [b for b in births if month - b >= age_by_rule(sex, b)]
        expected = max(retired) if retired else None
        if retired_by(cohorts, month) != expected:
            wrong[month] = (retired_by(cohorts, month), expected)
    assert wrong == {}
