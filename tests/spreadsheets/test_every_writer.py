"""Every spreadsheet fieldteam writes, walked with names, notes and codes that try to run formulas.

The routes are found, not listed: every export kind, every ``export_*`` command, every admin list
with an export or import (its export job's file and both templates), every report, the person-data
workbook and the rejected-rows file of an import, in both formats. No cell of any of them may be a
live formula (``tests.spreadsheets.checks.live_formulas``).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib import admin
from django.core.management import call_command, get_commands
from django.urls import reverse
from django.utils import timezone

from fieldteam import exports
from fieldteam.admin.imports import ImportExportAdminMixin
from fieldteam.choices import AssistanceChannel, AssistanceOutcome
from fieldteam.imports.base import ImportOptions
from fieldteam.imports.engine import import_file
from fieldteam.models import Area, AssistanceLog, BackgroundJob, Household, JobStatus, Resident, Team, User
from fieldteam.periods import Period
from fieldteam.selectors import person_data
from fieldteam.selectors import reports as report_documents
from fieldteam.services import privacy, reports
from fieldteam.services.assistance import ItemInput, log_assistance
from fieldteam.spreadsheets import writing
from tests.factories import HouseholdFactory, ResidentFactory
from tests.spreadsheets.checks import PAYLOADS, all_text, live_formulas

pytestmark = pytest.mark.django_db

FORMATS = ("xlsx", "csv")
MARKER = "@SUM(1)"  # one of the payloads, to see that the file holds them at all


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def poisoned(area_tree, catalogue, team, member):
    """Every free-text field a file shows, filled with a formula payload (as an old row or a typo might)."""
    Area.objects.filter(pk=area_tree.village.pk).update(name=PAYLOADS[0])
    Team.objects.filter(pk=team.pk).update(name=PAYLOADS[1])
    User.objects.filter(pk=member.pk).update(first_name=PAYLOADS[2], last_name=PAYLOADS[3])
    residents = []
    for n, payload in enumerate(PAYLOADS):
        household = HouseholdFactory(village=area_tree.village)
        Household.objects.filter(pk=household.pk).update(code=f"{payload}{n}", head_name=payload, address=payload)
        resident = ResidentFactory(household=household)
        Resident.objects.filter(pk=resident.pk).update(full_name=payload)
        log_assistance(
            actor=member,
            team=team,
            occurred_at=timezone.now(),
            channel=AssistanceChannel.HOME_VISIT,
            items=[ItemInput(catalogue.payment, AssistanceOutcome.DONE)],
            resident=resident,
            note=payload,
        )
        residents.append(resident)
    assert AssistanceLog.objects.filter(note=MARKER).exists()
    return residents


def assert_inert(content: bytes, fmt: str, where: object) -> None:
    assert live_formulas(content, fmt) == [], where


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_export_kind(poisoned, tmp_path: Path, fmt) -> None:
    seen = ""
    for kind in exports.EXPORT_KINDS:
        path = tmp_path / f"{kind}.{fmt}"
        exports.export_file(kind=kind, actor=None, path=path, fmt=fmt)
        assert_inert(path.read_bytes(), fmt, kind)
        seen += all_text(path.read_bytes(), fmt)
    assert MARKER in seen and PAYLOADS[0] in seen


def test_the_check_fails_when_the_writer_does_not_neutralise(poisoned, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(writing, "looks_like_formula", lambda text: False)
    for fmt in FORMATS:
        path = tmp_path / f"residents.{fmt}"
        exports.export_file(kind="residents", actor=None, path=path, fmt=fmt)
        assert live_formulas(path.read_bytes(), fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_export_command(poisoned, tmp_path: Path, fmt) -> None:
    names = sorted(name for name, app in get_commands().items() if app == "fieldteam" and name.startswith("export_"))
    assert {"export_data", "export_residents", "export_assistance_logs"} <= set(names)
    for name in names:
        kinds = sorted(exports.EXPORT_KINDS) if name == "export_data" else [None]
        for kind in kinds:
            path = tmp_path / f"{name}-{kind}.{fmt}"
            call_command(name, *([kind] if kind else []), "-o", str(path), stdout=io.StringIO())
            assert_inert(path.read_bytes(), fmt, (name, kind))


def _import_export_admins() -> list[tuple[type, ImportExportAdminMixin]]:
    return [(model, ma) for model, ma in admin.site._registry.items() if isinstance(ma, ImportExportAdminMixin)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_admin_export_and_template(poisoned, client, superuser, fmt, django_capture_on_commit_callbacks) -> None:
    client.force_login(superuser)
    admins = _import_export_admins()
    assert admins
    exported = 0
    for model, model_admin in admins:
        opts = model._meta
        for kind in model_admin.export_kinds:
            with django_capture_on_commit_callbacks(execute=True):
                response = client.post(
                    reverse(f"admin:{opts.app_label}_{opts.model_name}_export"), {"file_format": fmt, "kind": kind}
                )
            assert response.status_code == 302, (opts.model_name, kind)
            job = BackgroundJob.objects.latest("created_at")
            assert job.status == JobStatus.DONE and job.name == kind, (kind, job.error)
            with job.result_file.open("rb") as handle:
                assert_inert(handle.read(), fmt, ("admin export", kind))
            exported += 1
        if model_admin.import_kind:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_import_template") + f"?format={fmt}"
            response = client.get(url)
            assert response.status_code == 200
            assert_inert(response.content, fmt, ("template", model_admin.import_kind))
    assert exported >= len(exports.EXPORT_KINDS) - 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_report(poisoned, area_tree, superuser, fmt) -> None:
    made = [
        reports.report_file(user=superuser, area=area, period=Period.parse("2026-01"), fmt=fmt)
        for area in (area_tree.commune, Area.objects.get(pk=area_tree.village.pk))
    ]
    made.append(reports.work_list_file(user=superuser, village=Area.objects.get(pk=area_tree.village.pk), fmt=fmt))
    assert set(report_documents.REPORTS) == {report_documents.PERIODIC, report_documents.WORK_LIST}
    for report in made:
        assert_inert(report.content, fmt, report.filename)
    assert PAYLOADS[0] in "".join(all_text(r.content, fmt) for r in made)


def test_the_person_data_workbook(poisoned, superuser) -> None:
    texts = []
    for resident in poisoned:
        content = privacy.person_data_xlsx(person_data.export_person_data(actor=superuser, resident=resident))
        assert_inert(content, "xlsx", resident.pk)
        texts.append(all_text(content, "xlsx"))
    assert MARKER in "".join(texts)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_rejected_rows_file(area_tree, catalogue, tmp_path: Path, fmt) -> None:
    from tests.imports.conftest import RESIDENT_HEADERS, resident_row, write_csv, write_xlsx

    rows = [resident_row("no-such-village", household=p, name=p, serial=n) for n, p in enumerate(PAYLOADS)]
    write = write_xlsx if fmt == "xlsx" else write_csv
    path = write(tmp_path / f"in.{fmt}", RESIDENT_HEADERS, rows)
    result = import_file(kind="residents", path=path, actor=None, options=ImportOptions(dry_run=True))
    assert result.rejected_file is not None and result.report.errors
    assert_inert(result.rejected_file, fmt, "rejected rows")
    assert MARKER in all_text(result.rejected_file, fmt)
