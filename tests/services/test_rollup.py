"""The roll-up engine's write path, recompute and reported values, as the dashboards rely on them."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time

from fieldteam.choices import AdoptionSource, PopulationKind, ResidentStatus, Sex
from fieldteam.models import CommuneCount, IndicatorValue, RollupState, VillageCount
from fieldteam.periods import Period, today
from fieldteam.rollup import recompute, rules
from fieldteam.services import adoption as adoption_services
from fieldteam.services import areas as area_services
from fieldteam.services import people
from fieldteam.services.indicators import report_indicator_value
from tests.factories import (
    CapabilityDerivationFactory,
    CapabilityFactory,
    HouseholdFactory,
    IndicatorFactory,
    ResidentFactory,
)


@pytest.fixture
def smartphone_indicator(db):
    return IndicatorFactory(min_age=18)


def count(village, indicator) -> tuple[int, int]:
    row = VillageCount.objects.filter(village=village, indicator=indicator).first()
    return (row.numerator, row.denominator) if row else (0, 0)


def test_an_adoption_moves_the_village_numerator_once(area_tree, smartphone_indicator, deltas_path):
    resident = ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_year=1990)
    assert count(area_tree.village, smartphone_indicator) == (0, 1)

    for _ in range(2):  # logging the same person twice counts once
        adoption_services.set_adoption(
            actor=None,
            capability=smartphone_indicator.capability,
            since=dt.date(2025, 1, 2),
            source=AdoptionSource.ASSISTANCE,
            resident=resident,
        )

    assert count(area_tree.village, smartphone_indicator) == (1, 1)


def test_a_child_is_outside_the_adult_population(area_tree, smartphone_indicator):
    ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_year=today().year - 5)
    assert count(area_tree.village, smartphone_indicator) == (0, 0)


def test_moving_a_resident_moves_their_counts(area_tree, smartphone_indicator, deltas_path):
    resident = ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_year=1980)
    adoption_services.set_adoption(
        actor=None,
        capability=smartphone_indicator.capability,
        since=dt.date(2025, 1, 2),
        source=AdoptionSource.SURVEY,
        resident=resident,
    )
    people.move_resident(actor=None, resident=resident, household=HouseholdFactory(village=area_tree.village2))

    assert count(area_tree.village, smartphone_indicator) == (0, 0)
    assert count(area_tree.village2, smartphone_indicator) == (1, 1)


def test_a_death_removes_the_resident_from_the_counts(area_tree, smartphone_indicator):
    resident = ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_year=1950)
    people.record_departure(actor=None, resident=resident, status=ResidentStatus.DECEASED, on=today())
    assert count(area_tree.village, smartphone_indicator) == (0, 0)


def test_adoption_rejects_a_future_date_and_saves_nothing(area_tree, smartphone_indicator):
    resident = ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_year=1990)
    with pytest.raises(ValidationError) as error:
        adoption_services.set_adoption(
            actor=None,
            capability=smartphone_indicator.capability,
            since=today() + dt.timedelta(days=2),
            source=AdoptionSource.SURVEY,
            resident=resident,
        )
    assert "since" in error.value.message_dict
    assert count(area_tree.village, smartphone_indicator) == (0, 1)
    assert not resident.adoptions.exists()


def test_adoption_rejects_a_household_capability_for_a_resident(area_tree):
    resident = ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_year=1990)
    with pytest.raises(ValidationError) as error:
        adoption_services.set_adoption(
            actor=None,
            capability=CapabilityFactory(for_household=True),
            since=dt.date(2025, 1, 1),
            source=AdoptionSource.SURVEY,
            resident=resident,
        )
    assert "capability" in error.value.message_dict


def test_a_member_cannot_write_outside_their_villages(area_tree, member, smartphone_indicator):
    resident = ResidentFactory(household=HouseholdFactory(village=area_tree.other_village), birth_year=1990)
    with pytest.raises(ValidationError) as error:
        adoption_services.set_adoption(
            actor=member,
            capability=smartphone_indicator.capability,
            since=dt.date(2025, 1, 1),
            source=AdoptionSource.ASSISTANCE,
            resident=resident,
        )
    assert "resident" in error.value.message_dict
    assert count(area_tree.other_village, smartphone_indicator) == (0, 1)


def test_recompute_reports_and_corrects_drift(area_tree, smartphone_indicator):
    ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_year=1990)
    # A write that bypassed the services:
    VillageCount.objects.filter(village=area_tree.village).update(denominator=7)

    result = recompute.recompute_province(province_id=area_tree.province.pk)

    assert [(v, i, before[:2], after[:2]) for v, i, before, after in result.drift] == [
        (area_tree.village.pk, smartphone_indicator.pk, (0, 7), (0, 1))
    ]
    assert count(area_tree.village, smartphone_indicator) == (0, 1)
    assert recompute.recompute_province(province_id=area_tree.province.pk).drift == []
    assert RollupState.objects.get(pk=area_tree.province.pk).last_drift_rows == 0


def commune_count(commune, indicator) -> tuple[int, int]:
    row = CommuneCount.objects.filter(commune=commune, indicator=indicator).first()
    return (row.numerator, row.denominator) if row else (0, 0)


def test_the_communes_stored_sums_move_with_their_villages_counts(area_tree, smartphone_indicator, deltas_path):
    """Issue 18: a commune's row is the sum of its villages' rows, kept by the same writes."""
    residents = [
        ResidentFactory(household=HouseholdFactory(village=village), birth_year=1990)
        for village in (area_tree.village, area_tree.village2, area_tree.other_village)
    ]
    adoption_services.set_adoption(
        actor=None,
        capability=smartphone_indicator.capability,
        since=dt.date(2025, 1, 2),
        source=AdoptionSource.SURVEY,
        resident=residents[0],
    )
    people.move_resident(actor=None, resident=residents[1], household=residents[2].household)

    assert commune_count(area_tree.commune, smartphone_indicator) == (1, 1)
    assert commune_count(area_tree.other_commune, smartphone_indicator) == (0, 2)
    # A village moved to another commune takes its counts along.
    area_services.move_area(actor=None, area=area_tree.village, parent=area_tree.other_commune)
    assert commune_count(area_tree.commune, smartphone_indicator) == (0, 0)
    assert commune_count(area_tree.other_commune, smartphone_indicator) == (1, 3)
    assert recompute.recompute_province(province_id=area_tree.province.pk).drift == []


def test_recompute_reports_and_corrects_drift_of_the_communes_sums(area_tree, smartphone_indicator):
    ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_year=1990)
    CommuneCount.objects.filter(commune=area_tree.commune).update(numerator=5)

    result = recompute.recompute_province(province_id=area_tree.province.pk)

    assert [(c, i, before[:2], after[:2]) for c, i, before, after in result.drift] == [
        (area_tree.commune.pk, smartphone_indicator.pk, (5, 1), (0, 1))
    ]
    assert commune_count(area_tree.commune, smartphone_indicator) == (0, 1)
    assert RollupState.objects.get(pk=area_tree.province.pk).last_drift_rows == 1
    assert recompute.recompute_province(province_id=area_tree.province.pk).drift == []


def test_closing_a_month_freezes_every_level_of_the_tree(area_tree, smartphone_indicator):
    with freeze_time("2026-03-10"):
        for village in (area_tree.village, area_tree.village2, area_tree.other_village):
            resident = ResidentFactory(household=HouseholdFactory(village=village), birth_year=1990)
        adoption_services.set_adoption(
            actor=None,
            capability=smartphone_indicator.capability,
            since=dt.date(2026, 3, 1),
            source=AdoptionSource.SURVEY,
            resident=resident,
        )
    with freeze_time("2026-04-01"):
        closed = recompute.roll_month_forward(province_id=area_tree.province.pk)

    assert closed == [dt.date(2026, 3, 1)]
    frozen = {
        v.area_id: (v.numerator, v.denominator, v.value)
        for v in IndicatorValue.objects.filter(period_kind="month", period_start=dt.date(2026, 3, 1))
    }
    assert frozen[area_tree.province.pk] == (1, 3, Decimal("33.333"))
    assert frozen[area_tree.commune.pk] == (0, 2, Decimal("0.000"))
    assert frozen[area_tree.other_commune.pk] == (1, 1, Decimal("100.000"))
    # March ends a quarter: its value is frozen for the quarter too.
    assert IndicatorValue.objects.filter(period_kind="quarter", period_start=dt.date(2026, 1, 1)).count() == len(frozen)
    # and the live counts were rebased on April
    assert RollupState.objects.get(pk=area_tree.province.pk).month == dt.date(2026, 4, 1)


def test_the_months_roll_is_not_reported_as_drift_when_people_come_of_age(area_tree, smartphone_indicator, caplog):
    with freeze_time("2026-03-10"):
        # 18 in April 2026: not an adult at the end of March, one at the end of April.
        ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_date=dt.date(2008, 4, 15))
        recompute.recompute_province(province_id=area_tree.province.pk)
        assert count(area_tree.village, smartphone_indicator) == (0, 0)
    with freeze_time("2026-04-01"), caplog.at_level("WARNING", logger="fieldteam.rollup.recompute"):
        recompute.roll_month_forward(province_id=area_tree.province.pk)

    assert count(area_tree.village, smartphone_indicator) == (0, 1)
    assert RollupState.objects.get(pk=area_tree.province.pk).last_drift_rows == 0
    assert "drift" not in caplog.text
    # Real drift in the new month is still reported.
    VillageCount.objects.filter(village=area_tree.village).update(denominator=7)
    with freeze_time("2026-04-02"):
        assert recompute.recompute_province(province_id=area_tree.province.pk).drift
    assert RollupState.objects.get(pk=area_tree.province.pk).last_drift_rows == 1


def test_reported_value_records_who_and_when(area_tree, province_officer):
    indicator = IndicatorFactory(reported=True)
    row = report_indicator_value(
        actor=province_officer,
        indicator=indicator,
        area=area_tree.province,
        period=Period.parse("2025"),
        value=Decimal("12.5"),
    )
    assert (row.value, row.reported_by, row.period_kind) == (Decimal("12.5"), province_officer, "year")
    assert row.reported_at is not None


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("value", {"value": Decimal("-1")}),
        ("value", {"value": Decimal("120")}),
        ("period", {"period": Period.parse("2099-01")}),
        ("area", {"area_name": "far_commune"}),
    ],
)
def test_reported_value_rejects_bad_input(area_tree, province_officer, field, kwargs):
    indicator = IndicatorFactory(reported=True)
    arguments = {"value": Decimal("10"), "period": Period.parse("2025"), "area": area_tree.province}
    if "area_name" in kwargs:
        arguments["area"] = getattr(area_tree, kwargs.pop("area_name"))
    arguments.update(kwargs)
    with pytest.raises(ValidationError) as error:
        report_indicator_value(actor=province_officer, indicator=indicator, **arguments)
    assert field in error.value.message_dict
    assert not IndicatorValue.objects.exists()


def test_a_computed_indicator_cannot_be_reported(area_tree, province_officer, smartphone_indicator):
    with pytest.raises(ValidationError) as error:
        report_indicator_value(
            actor=province_officer,
            indicator=smartphone_indicator,
            area=area_tree.province,
            period=Period.parse("2025"),
            value=Decimal(5),
        )
    assert "indicator" in error.value.message_dict


def run_concurrently(calls, *, together: bool = False) -> list[BaseException]:
    """Run each call in its own thread and connection (released at the end); return what they raised.

    ``together``: all threads wait at a barrier first, so their transactions truly overlap.
    """
    barrier = threading.Barrier(len(calls)) if together else None
    errors: list[BaseException] = []

    def run(call):
        try:
            if barrier is not None:
                barrier.wait()
            call()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def logging_of(resident, indicator):
    return lambda: adoption_services.set_adoption(
        actor=None,
        capability=indicator.capability,
        since=dt.date(2025, 5, 1),
        source=AdoptionSource.ASSISTANCE,
        resident=resident,
    )


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_logging_in_one_village_loses_nothing(area_tree, smartphone_indicator, deltas_path):
    household = HouseholdFactory(village=area_tree.village)
    residents = [ResidentFactory(household=household, birth_year=1970 + i, sex=Sex.FEMALE) for i in range(12)]
    # Some members log the same person at the same moment: that person is counted once.
    targets = residents + residents[:4]

    errors = run_concurrently([logging_of(r, smartphone_indicator) for r in targets], together=True)

    assert errors == []
    assert count(area_tree.village, smartphone_indicator) == (12, 12)
    assert recompute.recompute_province(province_id=area_tree.province.pk).drift == []


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_recompute_and_concurrent_writes_agree(area_tree, smartphone_indicator, deltas_path):
    household = HouseholdFactory(village=area_tree.village)
    residents = [ResidentFactory(household=household, birth_year=1980) for _ in range(10)]
    calls = [logging_of(r, smartphone_indicator) for r in residents]
    calls.insert(5, lambda: recompute.recompute_province(province_id=area_tree.province.pk))

    errors = run_concurrently(calls)

    assert errors == []
    assert count(area_tree.village, smartphone_indicator) == (10, 10)
    assert recompute.recompute_province(province_id=area_tree.province.pk).drift == []


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_the_counts_function_of_this_code_is_installed_by_the_migrations():
    """A changed incremental write needs a migration installing its function (see 0032)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT proname FROM pg_proc WHERE proname LIKE 'fieldteam\\_apply\\_deltas\\_%%'")
        installed = {name for (name,) in cursor.fetchall()}
    assert installed == {rules.DELTAS_FUNCTION.name}


# Statements of one ``set_adoption`` of a resident (the transaction's BEGIN and COMMIT, the locks,
# the adoption, its audit entry, the mask and the counts). On PostgreSQL as at commit 0a860d8,
# before derived holdings (issue 15 allows at most one more). The embedded SQLite reads the counting
# rules on every write (no advisory lock to carry their version), now with the province's bounds
# and the derivation rules too: 9 at 0a860d8, 11 then; 12 with the communes' stored sums (issue 18),
# which PostgreSQL writes in the counts' statement and SQLite, without a data-modifying WITH, in one more.
SET_ADOPTION_STATEMENTS = {"postgresql": 7, "sqlite": 12}


@pytest.mark.django_db(transaction=True)
def test_an_adoption_costs_the_statements_it_cost_before_derived_holdings(area_tree):
    """A capability no "any member" rule reads costs what it did; one a household derives from costs
    one statement more (issue 15's bound), whether the household gains it or holds it already: on
    PostgreSQL the lock, the read and the write of its mask are one statement. SQLite, without
    ``FOR UPDATE`` in an ``UPDATE … FROM``, reads and then writes (two when it gains)."""
    phone, skills = CapabilityFactory(), CapabilityFactory()
    household_phone = CapabilityFactory(for_household=True)
    CapabilityDerivationFactory(any_member=True, source=phone, target=household_phone)
    for capability in (phone, skills):
        IndicatorFactory(capability=capability, min_age=18)
    IndicatorFactory(capability=household_phone, population=PopulationKind.HOUSEHOLDS, min_age=None)
    household, other = HouseholdFactory(village=area_tree.village), HouseholdFactory(village=area_tree.village)
    first, second, third = (ResidentFactory(household=h, birth_year=1980) for h in (household, household, other))

    def statements(capability, resident) -> int:
        with CaptureQueriesContext(connection) as captured:
            adoption_services.set_adoption(
                actor=None, capability=capability, since=dt.date(2026, 1, 5), source=AdoptionSource.SURVEY, resident=resident
            )
        return len(captured)

    statements(skills, third)  # the counting rules and the catalogue read once, as in a running process
    plain = statements(skills, first)
    gain = statements(phone, first)
    held = statements(phone, second)

    assert plain == SET_ADOPTION_STATEMENTS[connection.vendor]
    assert (gain - plain, held - plain) == ((1, 1) if connection.vendor == "postgresql" else (2, 1))
    assert HouseholdFactory._meta.model.objects.get(pk=household.pk).derived_mask == 1 << household_phone.bit
