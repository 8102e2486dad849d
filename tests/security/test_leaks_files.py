"""Leaks through files: data exports, periodic reports and work lists, and the jobs that hold them.

Every cell of every file is read (XLSX with openpyxl, CSV as text): no raw citizen ID or phone
number, nothing of a place out of the maker's scope. A report or export asked for an area out of
scope is refused; a job started by someone else answers 404 on every download path.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from openpyxl import load_workbook

from fieldteam import exports
from fieldteam.models import Area, BackgroundJob, JobStatus
from fieldteam.periods import Period
from fieldteam.permissions import scope_for
from fieldteam.selectors.indicators import OutOfScope
from fieldteam.services import reports
from tests.api.conftest import SEES
from tests.security.conftest import (
    ROLES,
    STAFF_ROLES,
    LeakWorld,
    assert_no_identifiers,
    assert_nothing_of,
    hidden_places,
)

pytestmark = pytest.mark.django_db

PERIOD = "2026-01"


def file_text(content: bytes, fmt: str) -> str:
    """Every cell of a file, as one text (XLSX: every sheet, every cell; CSV: the text)."""
    if fmt == "csv":
        return content.decode("utf-8-sig")
    book = load_workbook(io.BytesIO(content), read_only=True)
    return "\n".join(
        "\t".join("" if v is None else str(v) for v in row)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
    )


def _visible_areas(lw: LeakWorld, role: str) -> list[Area]:
    scope = scope_for(lw.users[role])
    return [a for a in vars(lw.world.tree).values() if scope.contains(a)]


@pytest.mark.parametrize("role", [*STAFF_ROLES, "superuser"])
@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_exports_hold_nothing_out_of_scope_and_no_raw_identifier(
    leak_world: LeakWorld, tmp_path: Path, role, fmt
) -> None:
    user = leak_world.users[role]
    for kind in exports.EXPORT_KINDS:
        path = tmp_path / f"{kind}.{fmt}"
        exports.export_file(kind=kind, actor=user, path=path, fmt=fmt)
        text = file_text(path.read_bytes(), fmt)
        assert_no_identifiers(leak_world, text, (role, kind, fmt))
        assert_nothing_of(leak_world, hidden_places(role), text, (role, kind, fmt))


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_an_export_of_an_area_out_of_scope_is_refused(leak_world: LeakWorld, role) -> None:
    for place in hidden_places(role):
        with pytest.raises(ValidationError) as refused:
            exports.export_job_start(
                actor=leak_world.users[role], kind="residents", area=leak_world.places[place].village
            )
        assert "area" in refused.value.message_dict
        assert_nothing_of(leak_world, [place], " ".join(refused.value.messages), (role, place))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_reports_and_work_lists_hold_nothing_out_of_scope_and_no_raw_identifier(
    leak_world: LeakWorld, web_client, role, fmt
) -> None:
    user = leak_world.users[role]
    for area in _visible_areas(leak_world, role):
        made = reports.report_file(user=user, area=area, period=Period.parse(PERIOD), fmt=fmt)
        text = file_text(made.content, fmt)
        assert_no_identifiers(leak_world, text, (role, area, fmt))
        assert_nothing_of(leak_world, hidden_places(role), text, (role, area, fmt))
    client = web_client(user)
    for place in SEES[role]:
        response = client.get(reverse("dashboards:work_list", args=[leak_world.places[place].village.pk, fmt]))
        assert response.status_code == 200
        text = file_text(response.content, fmt)
        assert_no_identifiers(leak_world, text, (role, place, fmt))
        assert_nothing_of(leak_world, hidden_places(role), text, (role, place, fmt))


@pytest.mark.parametrize("role", ROLES)
def test_reports_of_an_area_out_of_scope_are_refused_like_a_missing_area(
    leak_world: LeakWorld, web_client, client_for, role
) -> None:
    user = leak_world.users[role]
    web, api = web_client(user), client_for(user)
    scope = scope_for(user)
    hidden = [a for a in vars(leak_world.world.tree).values() if not scope.contains(a)]
    assert hidden
    for area in hidden:
        for response in (
            web.post(reverse("dashboards:report", args=[area.pk]), {"period": PERIOD, "format": "xlsx"}),
            web.get(reverse("dashboards:work_list", args=[area.pk, "xlsx"])),
            web.get(reverse("dashboards:month_report", args=[area.pk, PERIOD, "xlsx"])),
            api.post("/api/v1/reports/", {"area": area.pk, "period": PERIOD}, format="json"),
            api.post("/api/v1/reports/", {"report": "work_list", "area": area.pk}, format="json"),
        ):
            assert response.status_code == 404, (area, response.status_code)
            assert_nothing_of(leak_world, hidden_places(role), response.content, (role, area))
        with pytest.raises(OutOfScope):
            reports.report_job_create(user=user, area=area, fmt="xlsx")
    assert not BackgroundJob.objects.filter(created_by=user).exists()


@pytest.fixture
def jobs(leak_world: LeakWorld, django_capture_on_commit_callbacks) -> dict[str, BackgroundJob]:
    """Finished files of the commune officer: a periodic report, a work list, a residents export."""
    officer = leak_world.users["commune_officer"]
    village = leak_world.places["V1"].village
    made = {
        "report": reports.report_job_create(
            user=officer, area=village, fmt="xlsx", period=Period.parse(PERIOD), in_request=True
        ),
        "work list": reports.report_job_create(
            user=officer, area=village, fmt="csv", report="work_list", in_request=True
        ),
    }
    # Tasks run eagerly in tests: the export is written when the job is committed.
    with django_capture_on_commit_callbacks(execute=True):
        made["export"] = exports.export_job_start(actor=officer, kind="residents", area=leak_world.world.tree.commune)
    for job in made.values():
        job.refresh_from_db()
        assert job.status == JobStatus.DONE and job.result_file, job
    return made


def test_the_officer_own_files_hold_no_raw_identifier(leak_world: LeakWorld, jobs, web_client, client_for) -> None:
    officer = leak_world.users["commune_officer"]
    web, api = web_client(officer), client_for(officer)
    for name in ("report", "work list"):
        job = jobs[name]
        for response in (
            web.get(reverse("dashboards:job_download", args=[job.pk])),
            api.get(reverse("api:report-download", args=[job.pk])),
        ):
            assert response.status_code == 200, name
            body = b"".join(response.streaming_content)
            assert_no_identifiers(leak_world, file_text(body, job.params["format"]), name)
    export = web.get(reverse("admin:fieldteam_backgroundjob_download", args=[jobs["export"].pk]))
    assert export.status_code == 200
    text = file_text(b"".join(export.streaming_content), "xlsx")
    assert_no_identifiers(leak_world, text, "export")
    assert_nothing_of(leak_world, hidden_places("commune_officer"), text, "export")


@pytest.mark.parametrize("role", ["member", "leader", "province_officer", "viewer"])
def test_a_job_of_someone_else_is_404_on_every_path(leak_world: LeakWorld, jobs, web_client, client_for, role) -> None:
    user = leak_world.users[role]
    web, api = web_client(user), client_for(user)
    for name in ("report", "work list"):
        job = jobs[name]
        for url in (
            reverse("dashboards:job", args=[job.pk]),
            reverse("dashboards:job_download", args=[job.pk]),
            reverse("api:report-detail", args=[job.pk]),
            reverse("api:report-download", args=[job.pk]),
        ):
            client = api if url.startswith("/api/") else web
            response = client.get(url)
            assert response.status_code == 404, (role, name, url, response.status_code)
            assert_nothing_of(leak_world, ["V1"], response.content, (role, url))
        listed = api.get(reverse("api:report-list")).json()
        assert str(job.pk) not in {row["id"] for row in listed["results"]}
        assert listed["count"] == len(listed["results"])


def test_admin_job_downloads_follow_the_job_area(leak_world: LeakWorld, jobs, web_client) -> None:
    # A province officer sees the commune's jobs (the commune is in the province); a commune officer
    # of the other commune, or a team member, does not.
    from tests.factories import AreaRoleFactory

    other = AreaRoleFactory(area=leak_world.world.tree.other_commune).user
    for user, expected in ((leak_world.users["province_officer"], 200), (other, 404)):
        response = web_client(user).get(reverse("admin:fieldteam_backgroundjob_download", args=[jobs["export"].pk]))
        assert response.status_code == expected, (user, response.status_code)
    member = web_client(leak_world.users["member"]).get(
        reverse("admin:fieldteam_backgroundjob_download", args=[jobs["export"].pk])
    )
    assert member.status_code == 302  # to the admin sign-in
