"""Backup and restore as docs/deploy.md says: ``pg_dump --format=custom``, then ``pg_restore`` into
a fresh database gives back every row of every table, and the application can read it."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from fieldteam.services.assistance import ItemInput, log_assistance
from tests.reliability.pg import admin_connection, database_url

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def table_fingerprints(url: str, tables: list[str]) -> dict[str, tuple[int, str | None]]:
    """Rows and an md5 of the sorted rows of each table."""
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(
                f"SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM \"{table}\" t"  # noqa: S608
            ).fetchone()
            for table in tables
        }


def test_pg_dump_and_pg_restore_give_back_every_row(village, tmp_path):
    pg_dump, pg_restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    if not (pg_dump and pg_restore):
        pytest.skip("pg_dump and pg_restore are not installed")
    log_assistance(
        actor=village.member,
        team=village.team,
        occurred_at=timezone.now() - dt.timedelta(hours=1),
        channel="home_visit",
        resident=village.residents[0],
        items=[ItemInput(village.smartphone, "done")],
    )
    restored_name = f"{connection.settings_dict['NAME']}_restore"
    dump = tmp_path / "fieldteam.dump"
    with admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{restored_name}"')
        admin.execute(f'CREATE DATABASE "{restored_name}"')
    try:
        subprocess.run(  # noqa: S603 (fixed command line)
            [pg_dump, "--format=custom", "--no-owner", f"--file={dump}", f"--dbname={database_url()}"], check=True
        )
        subprocess.run(  # noqa: S603
            [
                pg_restore,
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={database_url(restored_name)}",
                str(dump),
            ],
            check=True,
        )
        tables = connection.introspection.table_names()
        original = table_fingerprints(database_url(), tables)
        restored = table_fingerprints(database_url(restored_name), tables)
    finally:
        with admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)')

    assert restored == original
    assert original["fieldteam_resident"][0] >= len(village.residents)
    assert original["fieldteam_assistancelog"][0] >= 1
