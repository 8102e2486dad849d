"""Reports over the API: create a job, poll it, download it; scoped (404), session or token."""

from __future__ import annotations

import io
import time

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from fieldteam.models import BackgroundJob, JobStatus
from fieldteam.selectors import reports as report_documents
from fieldteam.services import reports
from tests.dashboards.conftest import _frozen_today, _media, june, scenario

# The dashboards' scenario (its frozen day and media root too): the reports read what they show.
__all__ = ["_frozen_today", "_media", "june", "scenario"]

LIST = "/api/v1/reports/"


@pytest.fixture(autouse=True)
def _throttle_clock(monkeypatch):
    # freezegun swaps ``time.time`` for a plain function, which a class attribute would bind as a
    # method (``timer = time.time`` in DRF's throttles): give the throttles the frozen clock as such.
    monkeypatch.setattr(SimpleRateThrottle, "timer", staticmethod(lambda: time.time()))


@pytest.fixture
def api():
    return APIClient()


def as_user(api: APIClient, user) -> APIClient:
    token, _created = Token.objects.get_or_create(user=user)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api


def test_the_mount_point():
    assert reverse("api:report-list") == LIST


def test_a_small_area_report_is_done_in_the_request(api, scenario):
    response = as_user(api, scenario.commune_officer).post(
        LIST, {"area": scenario.tree.commune.pk, "period": "2026-Q1", "format": "xlsx"}, format="json"
    )

    assert response.status_code == 201, response.data
    assert response.data["status"] == JobStatus.DONE
    assert response["Location"] == response.data["url"]
    poll = api.get(response.data["url"])
    assert poll.status_code == 200
    assert poll.data["percent"] == 100
    file = api.get(poll.data["download_url"], HTTP_ACCEPT=reports.CONTENT_TYPES["xlsx"])
    assert file.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(file.streaming_content)))
    assert str(report_documents.SHEET_INDICATORS) in book.sheetnames


def test_a_large_area_report_is_queued_then_polled(api, scenario, django_capture_on_commit_callbacks):
    as_user(api, scenario.province_officer)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(LIST, {"area": scenario.tree.province.pk, "format": "csv"}, format="json")

    assert response.status_code == 202, response.data
    assert response.data["status"] == JobStatus.QUEUED
    assert response.data["params"]["period"] == "2026-06"  # this month by default
    assert response.data["download_url"] is None
    not_ready = api.get(reverse("api:report-download", kwargs={"job_id": response.data["id"]}))
    assert not_ready.status_code == 409
    assert "errors" in not_ready.json() or "detail" in not_ready.json()

    for callback in callbacks:
        callback()

    poll = api.get(response.data["url"])
    assert poll.data["status"] == JobStatus.DONE
    file = api.get(poll.data["download_url"])
    assert file.status_code == 200
    assert b"".join(file.streaming_content).startswith(b"\xef\xbb\xbf")
    listing = api.get(LIST)
    assert [job["id"] for job in listing.data["results"]] == [response.data["id"]]


def test_a_work_list_over_the_api(api, scenario):
    response = as_user(api, scenario.leader).post(
        LIST,
        {
            "report": "work_list",
            "area": scenario.tree.village.pk,
            "format": "csv",
            "capability": scenario.adults.capability.code,
        },
        format="json",
    )

    assert response.status_code == 201, response.data
    assert (response.data["kind"], response.data["name"]) == ("report", "work-list")
    content = b"".join(api.get(response.data["download_url"]).streaming_content).decode("utf-8-sig")
    assert scenario.adults.capability.name in content


@pytest.mark.parametrize(
    ("who", "where"),
    [
        ("commune_officer", "other_commune"),
        ("commune_officer", "province"),
        ("other_commune_officer", "village"),
        ("member", "province"),
        ("far_officer", "commune"),
    ],
)
def test_an_area_out_of_scope_is_404(api, scenario, who, where):
    response = as_user(api, getattr(scenario, who)).post(
        LIST, {"area": getattr(scenario.tree, where).pk, "format": "xlsx"}, format="json"
    )
    assert response.status_code == 404
    assert not BackgroundJob.objects.exists()


@pytest.mark.parametrize("name", ["api:report-detail", "api:report-download"])
def test_someone_else_job_is_404(api, scenario, name):
    job = reports.report_job_create(
        user=scenario.commune_officer, area=scenario.tree.commune, fmt="xlsx", in_request=True
    )
    url = reverse(name, kwargs={"job_id": job.pk})

    assert as_user(api, scenario.commune_officer).get(url).status_code == 200
    for other in (scenario.other_commune_officer, scenario.province_officer, scenario.member):
        assert as_user(api, other).get(url).status_code == 404
    assert as_user(api, scenario.other_commune_officer).get(LIST).data["results"] == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"period": "2026-13"}, "period"),
        ({"period": "2027-01"}, "period"),
        ({"period": "0000"}, "period"),
        ({"period": "1999-Q4"}, "period"),
        ({"format": "pdf"}, "format"),
        ({"area": 2**70}, "area"),
        ({"report": "work_list"}, "area"),  # a commune is not a village
        ({"report": "work_list", "capability": "nope"}, "capability"),
    ],
)
def test_bad_input_is_400_naming_the_field(api, scenario, payload, field):
    response = as_user(api, scenario.commune_officer).post(
        LIST, {"area": scenario.tree.commune.pk, **payload}, format="json"
    )
    assert response.status_code == 400
    # The project's exception handler puts the fields under "errors"; DRF's default at the top.
    assert field in response.data.get("errors", response.data)


def test_anonymous_is_refused(api, scenario):
    assert api.post(LIST, {"area": scenario.tree.commune.pk}, format="json").status_code in (401, 403)


def test_session_authentication_needs_csrf(scenario):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(scenario.commune_officer)
    response = client.post(LIST, {"area": scenario.tree.commune.pk}, format="json")
    assert response.status_code == 403
