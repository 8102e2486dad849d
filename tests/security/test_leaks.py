"""Identifiers in logs and error pages: never the raw citizen ID or phone number.

Every log record of a request cycle is captured at DEBUG and written out the ways production can
write it: the plain and the JSON line formatters, and Django's error report (what an error e-mail
or an error tracker built on it carries: request data and, in the HTML report, each frame's local
variables). The 500 page itself is drawn with ``DEBUG`` off, as in production.

The other files of this directory hold the matrix by surface: ``test_leaks_api.py``,
``test_leaks_pages.py``, ``test_leaks_admin.py``, ``test_leaks_files.py``.
"""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse
from django.views.debug import ExceptionReporter
from rest_framework.test import APIClient

from fieldteam.logging import JsonFormatter
from tests.security.conftest import LeakWorld, assert_no_identifiers

pytestmark = pytest.mark.django_db


def written_logs(records: list[logging.LogRecord]) -> str:
    """Every record as the console writes it (plain and JSON) and as an error report would carry it."""
    plain = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    structured = JsonFormatter()
    out = []
    for record in records:
        out += [plain.format(record), structured.format(record)]
        request = getattr(record, "request", None)
        if record.exc_info and request is not None:
            reporter = ExceptionReporter(request, *record.exc_info, is_email=True)
            out += [reporter.get_traceback_text(), reporter.get_traceback_html()]
    return "\n".join(out)


def test_no_identifier_in_the_logs_of_a_request_cycle(leak_world: LeakWorld, client_for, web_client, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    member = leak_world.users["member"]
    api, web = client_for(member), web_client(member)
    own = leak_world.places["V1"]
    cccd, phone = leak_world.citizen_ids["V1"], leak_world.phones["V1"]
    person = {
        "household": own.household.pk,
        "full_name": "Siu H'Ben",
        "sex": "female",
        "consent": {"channel": "in_person"},
    }
    api.post("/api/v1/residents/search/", {"citizen_id": cccd}, format="json")
    api.post("/api/v1/residents/search/", {"phone": phone}, format="json")
    api.post("/api/v1/residents/search/", {"citizen_id": cccd + "1"}, format="json")  # malformed: 400
    api.post("/api/v1/residents/", {**person, "birth_year": 1995, "citizen_id": cccd}, format="json")  # 400
    api.post(
        "/api/v1/residents/", {**person, "birth_year": 1980, "citizen_id": leak_world.citizen_ids["VF"]}, format="json"
    )
    api.patch(f"/api/v1/residents/{leak_world.places['VF'].resident.pk}/", {"phone": phone}, format="json")  # 404
    api.post(
        "/api/v1/sync/",
        {
            "items": [
                {
                    "kind": "resident",
                    "client_id": "0b7c8a7e-79a4-4b8e-8b1e-3f1de0f6a001",
                    "data": {**person, "citizen_id": cccd},
                }
            ]
        },
        format="json",
    )
    web.post(reverse("web:search"), {"q": cccd})
    web.get(reverse("web:search"), {"q": phone})
    officer = web_client(leak_world.users["commune_officer"])
    officer.get(reverse("admin:fieldteam_resident_changelist"), {"q": cccd}, follow=True)
    officer.post(
        reverse("admin:fieldteam_resident_change", args=[own.resident.pk]), {"citizen_id": leak_world.citizen_ids["V2"]}
    )
    assert caplog.records  # the 400s and 404s above are logged
    assert_no_identifiers(leak_world, caplog.text, "captured log")
    assert_no_identifiers(leak_world, written_logs(caplog.records), "written log")


@pytest.fixture
def failing_lookup(monkeypatch: pytest.MonkeyPatch):
    """The identifier lookup of the API and of the pages fails (a database outage, a bug) under the selector."""

    def fail(**kwargs: object) -> None:
        raise RuntimeError("lookup failed")

    monkeypatch.setattr("fieldteam.selectors.people.residents_visible", fail)


def test_a_failed_identifier_search_leaks_it_neither_on_the_500_page_nor_in_the_error_report(
    leak_world: LeakWorld, failing_lookup, web_client, settings, caplog
) -> None:
    settings.DEBUG = False
    caplog.set_level(logging.DEBUG)
    member = leak_world.users["member"]
    cccd, phone = leak_world.citizen_ids["V1"], leak_world.phones["V1"]
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(member)
    web = web_client(member)
    answers = [
        api.post("/api/v1/residents/search/", {"citizen_id": cccd}, format="json"),
        api.post("/api/v1/residents/search/", {"phone": phone}, format="json"),
        # The API also takes a form-encoded body, which Django's error report lists as POST data.
        api.post("/api/v1/residents/search/", {"citizen_id": cccd}),
        web.post(reverse("web:search"), {"q": cccd}),
        web.post(reverse("web:search"), {"q": phone}),
    ]
    for response in answers:
        assert response.status_code == 500
        assert_no_identifiers(leak_world, response.content, "500 page")
    failures = [r for r in caplog.records if r.exc_info and getattr(r, "request", None) is not None]
    assert len(failures) == len(answers)
    assert_no_identifiers(leak_world, written_logs(caplog.records), "error report")
