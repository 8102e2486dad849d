"""The bulk import's cost per row, counted, not timed: a guard on its speed (issue 14, item 0).

bench/import.py times a province's import by hand (≥ 4,000 rows/s at 100,000 rows on PostgreSQL);
wall time is no test on a shared machine. What made it 7× slower unnoticed was work per row: the
audit trail ran django-auditlog's diff for every new row. So the suite counts what time follows,
on two imports of N and 2N new residents (with identifiers, consents, resident and household
capabilities) after a warm-up: the SQL statements (a constant per batch, nothing per row), the
library's diff (never, for created rows) and every Python function call (a budget per row).
"""

from __future__ import annotations

import cProfile
import datetime as dt
import pstats
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fieldteam import audit
from fieldteam.choices import PopulationKind
from fieldteam.imports.engine import import_file
from fieldteam.models import AuditEntry, Household, Resident
from tests.factories import CapabilityDerivationFactory, IndicatorFactory, VillageFactory
from tests.imports.conftest import RESIDENT_HEADERS, resident_row, write_csv

pytestmark = pytest.mark.django_db

N = 24
# Python function calls per imported row (reading, checking, encrypting, inserting, the trail;
# a row here makes about seven trail entries). Measured on 2026-12-07: PostgreSQL 344-439 (rows
# and trail by COPY, the trail's changes written as JSON text, cells read by each column's cleaner),
# then 360 with new households' derived holdings written with them (no lock and update after),
# SQLite 2,789-2,843 (Django's bulk_create prepares every value of every row); 701 and 3,004 the
# day before, and 6,103 and 6,698 with django-auditlog's diff per entry. Headroom for library
# upgrades, not for another per-row pass over the rows.
CALLS_PER_ROW = {"postgresql": 450, "sqlite": 3300}
# The library's per-row work that must not come back for created rows.
PER_ROW_DIFF = ("model_instance_diff", "get_field_value", "get_fields_in_model")


@dataclass
class Cost:
    rows: int
    statements: int
    calls: int
    diff_calls: int


def _file(tmp_path: Path, village_code: str, count: int, tag: str, first: int) -> Path:
    """``count`` new residents, three to a household, most with a CCCD, some a phone, all some capability."""
    rows = [
        resident_row(
            village_code, household=f"{tag}-{n // 3}", head=f"Chủ Hộ {tag} {n // 3}", name=f"Người {tag} {n}",
            birth_date=dt.date(1950 + n % 50, 1 + n % 12, 1 + n % 28), serial=first + n,
            with_cccd=n % 5 != 4, phone=f"09{first + n:08d}" if n % 2 else "",
            smartphone="có", smartphone_on=dt.date(2024, 3, 1), payment="có" if n % 3 else "",
            skills="có" if n % 4 == 0 else "", fibre="có" if n % 3 == 0 else "", fibre_on=dt.date(2023, 1, 1),
        )
        for n in range(count)
    ]  # fmt: skip
    return write_csv(tmp_path / f"{tag}.csv", RESIDENT_HEADERS, rows)


def _import(path: Path, actor) -> Cost:
    residents = Resident.objects.count()
    profile = cProfile.Profile()
    with CaptureQueriesContext(connection) as queries:
        profile.enable()
        result = import_file(kind="residents", path=path, actor=actor)
        profile.disable()
    assert result.report.written and not result.report.errors, result.report.as_summary()
    stats = pstats.Stats(profile).stats
    calls = sum(primitive for primitive, _total, _tt, _ct, _callers in stats.values())
    diff_calls = sum(s[0] for (_file, _line, name), s in stats.items() if name in PER_ROW_DIFF)
    return Cost(Resident.objects.count() - residents, len(queries), calls, diff_calls)


def test_an_imports_statements_and_python_work_do_not_grow_per_row(
    area_tree, catalogue, province_officer, tmp_path, monkeypatch
):
    # The trail goes in by COPY on PostgreSQL from a few hundred entries, as in any real import: so
    # here too, whatever the size (the two imports then take the same way).
    monkeypatch.setattr(audit, "COPY_FROM", 1, raising=False)
    # A household holds a smartphone when a member does (as the reference catalogue says): the
    # import then keeps the households' derived holdings too, and that must not cost per row either.
    household_smartphone = CapabilityDerivationFactory(any_member=True, source=catalogue.smartphone).target
    IndicatorFactory(capability=household_smartphone, population=PopulationKind.HOUSEHOLDS, min_age=None)
    # Each import in a village of its own: all rows new, none matched against the others.
    villages = [VillageFactory(parent=area_tree.commune).code for _ in range(3)]
    _import(_file(tmp_path, villages[0], 6, "warm", 1), province_officer)  # caches, plans, first queries
    entries = AuditEntry.objects.count()
    small = _import(_file(tmp_path, villages[1], N, "small", 1000), province_officer)
    large = _import(_file(tmp_path, villages[2], 2 * N, "large", 2000), province_officer)
    assert (small.rows, large.rows) == (N, 2 * N)
    assert AuditEntry.objects.count() - entries > 3 * 3 * N  # the trail was written: residents, households, ...
    assert Household.objects.filter(derived_mask=household_smartphone.mask).exists()  # the derivation ran

    assert small.diff_calls == large.diff_calls == 0, "django-auditlog's diff ran per created row"
    # A statement per row would add N; a batch (SQLite's multi-row INSERTs hold a few dozen rows) a few.
    extra_statements = large.statements - small.statements
    assert extra_statements <= N // 4, (small, large)
    per_row = (large.calls - small.calls) / N
    budget = CALLS_PER_ROW[connection.vendor]
    assert per_row <= budget, f"{per_row:.0f} Python calls per imported row (budget {budget}): {small}, {large}"
