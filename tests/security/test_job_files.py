"""Files with personal data reach officers of the area only, and every download is in the trail (issue 13, item 2).

An import's upload and its rejected-rows file carry full citizen IDs and phone numbers; an export of
residents, households or logs is about people. Every route that hands out a job's file (found by
walking the URL resolver) is tried by every role on such files: only an officer of the job's area
(``Scope.is_officer_of``) or a superuser gets the file, and each download writes an access entry
(who, when, which job and file) filed under the job's area. A viewer of the area gets 403, a team
member is not let into admin, and someone who does not see the job gets 404; none of them leaves
an entry. Files of other jobs (a report) stay with whoever may see the job.
"""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from openpyxl import Workbook

from fieldteam import exports
from fieldteam.choices import Sex
from fieldteam.imports.jobs import import_job_start
from fieldteam.models import AuditEntry, BackgroundJob, JobStatus
from fieldteam.periods import Period
from fieldteam.services import jobs as job_service
from fieldteam.services import reports
from tests.api.conftest import ROLES
from tests.factories import make_citizen_id
from tests.imports.conftest import RESIDENT_HEADERS, resident_row
from tests.security.conftest import LeakWorld

pytestmark = pytest.mark.django_db

ADMIN_DOWNLOAD = "admin:fieldteam_backgroundjob_download"
# Every route that hands out a job's file; a new one fails ``test_every_file_route_is_covered``.
FILE_ROUTES = {ADMIN_DOWNLOAD, "dashboards:job_download", "api:report-download"}
# Who gets a file with personal data of a job in the commune (V1, V2): its officers and the superuser.
MAY_DOWNLOAD = {"commune_officer", "province_officer", "superuser"}


def _routes() -> set[str]:
    """The names of the routes that take a job id or say they download."""
    found: set[str] = set()

    def walk(resolver: URLResolver, namespace: str) -> None:
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern, f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                route = str(pattern.pattern)
                if "download" in route or "download" in pattern.name:
                    found.add(f"{namespace}{pattern.name}")

    walk(get_resolver(), "")
    return found


def test_every_file_route_is_covered() -> None:
    assert _routes() == FILE_ROUTES


@pytest.fixture
def files(leak_world: LeakWorld, django_capture_on_commit_callbacks) -> dict[str, BackgroundJob]:
    """The commune officer's import dry run (upload + rejected rows with raw numbers), residents export, report."""
    officer = leak_world.users["commune_officer"]
    village = leak_world.places["V1"].village
    book = Workbook()
    book.active.append(RESIDENT_HEADERS)
    # A CCCD that contradicts the birth year: rejected, its numbers in the rejected-rows file.
    bad_cccd = make_citizen_id(birth_year=1985, sex=Sex.FEMALE, serial=5)
    book.active.append(resident_row(village.code, name="Bad Row", birth_year=1990, birth_date=None, cccd=bad_cccd))
    book.active.append(resident_row(village.code, household="HH-2", serial=9))
    buffer = io.BytesIO()
    book.save(buffer)
    with django_capture_on_commit_callbacks(execute=True):
        made = {
            "import": import_job_start(
                actor=officer,
                kind="residents",
                upload=SimpleUploadedFile("residents.xlsx", buffer.getvalue()),
                file_name="residents.xlsx",
                dry_run=True,
                skip_invalid=True,
            ),
            "export": exports.export_job_start(actor=officer, kind="residents", area=leak_world.world.tree.commune),
        }
    made["report"] = reports.report_job_create(
        user=officer, area=village, fmt="xlsx", period=Period.parse("2026-01"), in_request=True
    )
    for job in made.values():
        job.refresh_from_db()
        assert job.status == JobStatus.DONE and job.result_file, (job, job.error)
    assert job_service.holds_personal_data(made["import"]) and job_service.holds_personal_data(made["export"])
    assert not job_service.holds_personal_data(made["report"])
    return made


def _downloads(job: BackgroundJob) -> int:
    return AuditEntry.objects.filter(
        action=AuditEntry.Action.ACCESS, object_pk=str(job.pk), additional_data__purpose="job_file_download"
    ).count()


def _client(user, web_client, client_for, route: str):
    return client_for(user) if route.startswith("api:") else web_client(user)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(FILE_ROUTES))
@pytest.mark.parametrize("name", ["import", "export"])
def test_files_with_personal_data_go_to_officers_of_the_area_only(
    leak_world: LeakWorld, files, web_client, client_for, role, route, name
) -> None:
    job, user = files[name], leak_world.users[role]
    before = _downloads(job)
    response = _client(user, web_client, client_for, route).get(reverse(route, args=[job.pk]))
    allowed = route == ADMIN_DOWNLOAD and role in MAY_DOWNLOAD
    if allowed:
        assert response.status_code == 200, (role, route, response.status_code)
        body = b"".join(response.streaming_content)
        assert body[:2] == b"PK"  # the workbook itself
        assert "no-store" in response["Cache-Control"]
        entry = AuditEntry.objects.filter(object_pk=str(job.pk), action=AuditEntry.Action.ACCESS).latest("pk")
        assert _downloads(job) == before + 1
        assert entry.actor == user and entry.area_id == job.area_id
        assert entry.additional_data["fields"] == ["result_file"]
    else:
        assert response.status_code in (302, 403, 404), (role, route, response.status_code)
        if route == ADMIN_DOWNLOAD and role == "viewer":
            assert response.status_code == 403  # sees the job, may not have its file
        assert _downloads(job) == before
        assert not getattr(response, "streaming", False)


@pytest.mark.parametrize("role", ROLES)
def test_a_file_without_personal_data_follows_the_job(leak_world: LeakWorld, files, web_client, role) -> None:
    # A report holds counts only: whoever sees the job has it, as before, and no access entry is needed.
    job = files["report"]
    response = web_client(leak_world.users[role]).get(reverse("dashboards:job_download", args=[job.pk]))
    assert response.status_code == (200 if role in ("commune_officer", "superuser") else 404), role
    assert _downloads(job) == 0


def test_the_rule_is_the_scope_rule(leak_world: LeakWorld, files) -> None:
    from fieldteam.permissions import scope_for

    for role in ROLES:
        user = leak_world.users[role]
        for name in ("import", "export"):
            job = files[name]
            assert job_service.may_download(user=user, job=job) == scope_for(user).is_officer_of(job.area), (role, name)


def test_a_job_of_no_area_is_its_officer_starters_only(leak_world: LeakWorld, files) -> None:
    job = files["import"]
    BackgroundJob.objects.filter(pk=job.pk).update(area=None)
    job.refresh_from_db()
    users = leak_world.users
    assert job_service.may_download(user=users["commune_officer"], job=job)  # started it, an officer wherever they are
    assert job_service.may_download(user=users["superuser"], job=job)
    for role in ("province_officer", "viewer", "member", "leader", "outsider"):
        assert not job_service.may_download(user=users[role], job=job), role
