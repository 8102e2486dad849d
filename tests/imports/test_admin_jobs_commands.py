"""The admin's import/export pages and jobs, the duplicates pages, and the management commands."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from openpyxl import load_workbook

from fieldteam.choices import AreaRoleKind, Sex
from fieldteam.imports.jobs import import_job_run, import_job_start
from fieldteam.models import AuditEntry, BackgroundJob, JobKind, JobStatus, Resident
from tests.factories import AreaRoleFactory, HouseholdFactory, ResidentFactory
from tests.imports.conftest import RESIDENT_HEADERS, resident_row, write_xlsx

pytestmark = pytest.mark.django_db


def rows_for(area_tree, bad: bool = False) -> list[list]:
    rows = [
        resident_row(area_tree.village.code, household="A", name="Nguyễn Văn An", sex="Nam", serial=1, smartphone="có"),
        resident_row(area_tree.village.code, household="A", name="Trần Thị Bình", serial=2),
    ]
    if bad:
        rows.append(resident_row(area_tree.village.code, household="B", name="Lỗi", phone="123", serial=3))
    return rows


def upload(tmp_path, area_tree, bad: bool = False) -> SimpleUploadedFile:
    path = write_xlsx(tmp_path / "danh-sach.xlsx", RESIDENT_HEADERS, rows_for(area_tree, bad))
    return SimpleUploadedFile("danh-sach.xlsx", path.read_bytes())


def test_the_resident_list_has_import_export_and_duplicates_buttons(client, area_tree, catalogue, commune_officer):
    client.force_login(commune_officer)
    page = client.get(reverse("admin:fieldteam_resident_changelist")).content.decode()
    for name in ("fieldteam_resident_import", "fieldteam_resident_export", "fieldteam_resident_duplicates"):
        assert reverse(f"admin:{name}") in page
    import_page = client.get(reverse("admin:fieldteam_resident_import"))
    assert import_page.status_code == 200 and "Số CCCD" in import_page.content.decode()


def test_a_viewer_sees_export_but_not_import(client, area_tree, catalogue):
    viewer = AreaRoleFactory(area=area_tree.commune, role=AreaRoleKind.VIEWER).user
    client.force_login(viewer)
    page = client.get(reverse("admin:fieldteam_resident_changelist")).content.decode()
    assert reverse("admin:fieldteam_resident_export") in page and reverse("admin:fieldteam_resident_import") not in page
    assert client.get(reverse("admin:fieldteam_resident_import")).status_code == 403


def test_the_template_is_a_workbook_with_the_columns_and_instructions(client, area_tree, catalogue, commune_officer):
    client.force_login(commune_officer)
    response = client.get(reverse("admin:fieldteam_resident_import_template") + "?format=xlsx")
    book = load_workbook(io.BytesIO(response.content))
    headers = [c.value for c in book.worksheets[0][1]]
    assert headers[:10] == RESIDENT_HEADERS[:10]
    assert "Có điện thoại thông minh [smartphone]" in headers and "Hộ có cáp quang – ngày [fibre_broadband]" in headers
    assert book.worksheets[1].max_row == len(headers) + 1  # one line of instructions per column
    csv_template = client.get(reverse("admin:fieldteam_resident_import_template") + "?format=csv").content.decode(
        "utf-8-sig"
    )
    assert csv_template.startswith("Mã thôn,Mã hộ")
    for name in ("area", "team", "membership", "target", "indicatorvalue", "household"):
        assert client.get(reverse(f"admin:fieldteam_{name}_import_template")).status_code in (200, 403)


def test_a_dry_run_in_admin_then_the_real_import(
    client, area_tree, catalogue, commune_officer, tmp_path, django_capture_on_commit_callbacks
):
    client.force_login(commune_officer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:fieldteam_resident_import"), {"import_file": upload(tmp_path, area_tree), "dry_run": "on"}
        )
    job = BackgroundJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:fieldteam_backgroundjob_change", args=[job.pk]
    )
    assert (job.kind, job.name, job.status, job.area) == (
        JobKind.IMPORT,
        "residents",
        JobStatus.DONE,
        area_tree.commune,
    )
    assert job.summary["counts"]["residents_new"] == 2 and not Resident.objects.exists()
    page = client.get(response["Location"]).content.decode()
    assert "Nguyễn Văn An" in page and reverse("admin:fieldteam_backgroundjob_confirm", args=[job.pk]) in page

    assert client.get(reverse("admin:fieldteam_backgroundjob_confirm", args=[job.pk])).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:fieldteam_backgroundjob_confirm", args=[job.pk]))
    real = BackgroundJob.objects.exclude(pk=job.pk).get()
    assert real.status == JobStatus.DONE and real.summary["written"] and not real.params["dry_run"]
    assert Resident.objects.count() == 2


def test_skip_invalid_in_admin_gives_the_rejected_rows_file_to_its_area_only(
    client, area_tree, catalogue, commune_officer, tmp_path, django_capture_on_commit_callbacks
):
    client.force_login(commune_officer)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:fieldteam_resident_import"),
            {"import_file": upload(tmp_path, area_tree, bad=True), "skip_invalid": "on"},
            HTTP_ACCEPT_LANGUAGE="en",  # the job runs in the asker's language
        )
    job = BackgroundJob.objects.get()
    assert job.summary["written"] and job.summary["rejected_rows"] == 1 and Resident.objects.count() == 2
    assert any("Row 4, column “Số điện thoại”" in e for e in job.summary["errors"])
    download = reverse("admin:fieldteam_backgroundjob_download", args=[job.pk])
    response = client.get(download)
    rows = list(load_workbook(io.BytesIO(b"".join(response.streaming_content))).active.iter_rows(values_only=True))
    assert rows[1][0] == 4 and "Số điện thoại" in rows[1][-1]
    other = AreaRoleFactory(area=area_tree.other_commune, role=AreaRoleKind.COMMUNE_OFFICER).user
    client.force_login(other)
    assert client.get(download).status_code == 404


def test_an_import_outside_the_officers_area_is_refused_in_the_form(
    client, area_tree, catalogue, commune_officer, tmp_path
):
    client.force_login(commune_officer)
    response = client.post(
        reverse("admin:fieldteam_resident_import"),
        {"import_file": upload(tmp_path, area_tree), "area": area_tree.far_village.pk},
    )
    assert response.status_code == 200 and not BackgroundJob.objects.exists()


def test_an_export_from_admin(
    client, area_tree, catalogue, commune_officer, tmp_path, django_capture_on_commit_callbacks
):
    client.force_login(commune_officer)
    ResidentFactory(household=HouseholdFactory(village=area_tree.village), full_name="Hoa", sex=Sex.FEMALE)
    assert client.get(reverse("admin:fieldteam_resident_export")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:fieldteam_resident_export"), {"file_format": "csv"})
    job = BackgroundJob.objects.get()
    assert response.status_code == 302 and job.status == JobStatus.DONE and job.summary["rows"] == 1
    content = b"".join(client.get(reverse("admin:fieldteam_backgroundjob_download", args=[job.pk])).streaming_content)
    assert "Hoa" in content.decode("utf-8-sig")
    assert client.get(reverse("admin:fieldteam_backgroundjob_change", args=[job.pk])).status_code == 200


def test_the_duplicates_page_and_the_merge_in_admin(client, area_tree, catalogue, commune_officer):
    household = HouseholdFactory(village=area_tree.village)
    keep = ResidentFactory(household=household, full_name="Lê Văn Tám", birth_year=1990, sex=Sex.MALE)
    duplicate = ResidentFactory(household=household, full_name="Lê Văn Tám", birth_year=1990, sex=Sex.MALE)
    client.force_login(commune_officer)
    page = client.get(reverse("admin:fieldteam_resident_duplicates")).content.decode()
    assert "Lê Văn Tám" in page and reverse("admin:fieldteam_resident_merge") in page
    merge = reverse("admin:fieldteam_resident_merge") + f"?keep={keep.pk}&duplicate={duplicate.pk}"
    assert client.get(merge).status_code == 200
    response = client.post(reverse("admin:fieldteam_resident_merge"), {"keep": keep.pk, "duplicate": duplicate.pk})
    assert response.status_code == 302
    duplicate.refresh_from_db()
    assert duplicate.merged_into == keep


def test_the_merge_action_needs_two_residents(client, area_tree, catalogue, commune_officer):
    household = HouseholdFactory(village=area_tree.village)
    a = ResidentFactory(household=household, full_name="X", birth_year=1990)
    b = ResidentFactory(household=household, full_name="Y", birth_year=1991)
    client.force_login(commune_officer)
    changelist = reverse("admin:fieldteam_resident_changelist")
    response = client.post(changelist, {"action": "merge_selected", "_selected_action": [a.pk, b.pk]})
    assert response.status_code == 302 and reverse("admin:fieldteam_resident_merge") in response["Location"]


def test_an_import_job_is_run_once(area_tree, catalogue, commune_officer, tmp_path, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = import_job_start(
            actor=commune_officer,
            kind="residents",
            upload=upload(tmp_path, area_tree),
            file_name="f.xlsx",
            dry_run=False,
        )
    assert len(callbacks) == 1 and BackgroundJob.objects.get(pk=job.pk).status == JobStatus.QUEUED
    import_job_run(job_id=job.pk)
    import_job_run(job_id=job.pk)  # a redelivered message
    assert Resident.objects.count() == 2
    assert BackgroundJob.objects.get(pk=job.pk).processed == 2
    # Run by a worker (no request): the trail names the officer who started the import.
    made = AuditEntry.objects.filter(content_type__model="resident", action=AuditEntry.Action.CREATE)
    assert made.count() == 2 and set(made.values_list("actor", flat=True)) == {commune_officer.pk}


def test_the_import_command(area_tree, catalogue, tmp_path, capsys):
    path = write_xlsx(tmp_path / "danh-sach.xlsx", RESIDENT_HEADERS, rows_for(area_tree, bad=True))
    with pytest.raises(CommandError):
        call_command("import_residents", str(path), "--commune-code", area_tree.commune.code, "--dry-run")
    assert "Row 4, column “Số điện thoại”" in capsys.readouterr().err
    call_command("import_residents", str(path), "--commune-code", area_tree.commune.code, "--skip-invalid")
    assert Resident.objects.count() == 2
    assert (tmp_path / "danh-sach.rejected.xlsx").exists()
    out = capsys.readouterr().out
    assert "residents_new: 2" in out


def test_the_import_command_as_a_user_keeps_to_their_area(area_tree, catalogue, tmp_path, commune_officer):
    rows = [resident_row(area_tree.far_village.code, serial=9)]
    path = write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, rows)
    with pytest.raises(CommandError):
        call_command("import_data", "residents", str(path), "--as-user", commune_officer.username)
    assert not Resident.objects.exists()


def test_the_export_command(area_tree, catalogue, tmp_path, capsys):
    ResidentFactory(household=HouseholdFactory(village=area_tree.village), full_name="Hoa")
    call_command("export_residents", "-o", str(tmp_path / "out.xlsx"), "--area", area_tree.commune.code)
    assert "1 rows written" in capsys.readouterr().out
    call_command("export_data", "villages", "-o", str(tmp_path / "v.csv"))
    assert (tmp_path / "v.csv").read_text(encoding="utf-8-sig").count("\n") == 5  # header + the tree's 4 villages


def test_a_running_job_page_shows_its_progress_and_reloads(client, area_tree, commune_officer):
    job = BackgroundJob.objects.create(
        kind=JobKind.IMPORT,
        name="residents",
        area=area_tree.commune,
        status=JobStatus.RUNNING,
        total=100_000,
        processed=25_000,
        summary={"phase": "reading"},
        created_by=commune_officer,
    )
    client.force_login(commune_officer)
    page = client.get(reverse("admin:fieldteam_backgroundjob_change", args=[job.pk])).content.decode()
    assert 'http-equiv="refresh"' in page and 'value="25"' in page and "25,000 / 100,000" in page
