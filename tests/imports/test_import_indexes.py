"""Migration 0029: adoptions' assistance-log and household indexes hold only the rows that have one.

An import inserts hundreds of thousands of adoptions with neither (a resident's, none from a log);
partial indexes spare it their NULL entries. The lookups the application makes (a log's or a
household's adoptions, and the ``IN (...)`` of a deletion's ``SET NULL`` or cascade) must still be
answered by them on PostgreSQL.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.models import QuerySet

from fieldteam.models import Adoption

pytestmark = pytest.mark.django_db


def _plan(queryset: QuerySet[Adoption]) -> str:
    with connection.cursor() as cursor:
        # On a test's few rows a scan is cheaper: forbid it, to ask whether an index can answer at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("lookup", "index"),
    [
        ({"assistance_log_id": uuid.uuid4()}, "adoption_assistance_log_idx"),
        ({"assistance_log_id__in": [uuid.uuid4(), uuid.uuid4()]}, "adoption_assistance_log_idx"),
        ({"household_id": 1}, "adoption_household_idx"),
        ({"household_id__in": [1, 2]}, "adoption_household_idx"),
    ],
)
def test_on_postgresql_a_logs_or_households_adoptions_read_the_partial_index(lookup, index) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    assert index in _plan(Adoption.objects.filter(**lookup))
