"""Fuzz ``POST /api/v1/sync/``: any JSON, any near-valid item, answers 4xx or per-item results, never a 5xx.

The endpoint turns an unexpected exception in one item into a ``server_error`` result (so the
other items still get theirs) and logs it; that counts as a crash here too.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from fieldteam import sync
from fieldteam.sync import envelope
from tests.fuzz.conftest import fuzz_settings
from tests.web.conftest import WebWorld, web_world  # noqa: F401 (fixture)

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

SYNC_URL = "/api/v1/sync/"

# Control characters (NUL first: PostgreSQL refuses it in any text) and lone surrogates, which the
# API's parsers refuse wherever they occur, in values and in keys; tab, LF and CR, which they keep.
hostile_text = st.sampled_from(
    ["\x00", "ab\x00cd", "\x1b[0m", "\x7f", "\x85", "\x9f", "\ud800", "a\udfffb", "\t\n\r"]
) | st.text(alphabet=st.characters(categories=["Cc"]), min_size=1, max_size=5)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | hostile_text
)
any_json = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12) | hostile_text, children, max_size=5)
    ),
    max_leaves=25,
)


def nested_body(depth: int, opener: str, closed: bool) -> str:
    """``depth`` brackets (``[`` or ``{"a":``), closed into valid JSON or left open."""
    if not closed:
        return opener * depth
    return opener * depth + "1" + ("]" if opener == "[" else "}") * depth


# Depths around the parser's limit (32), past the interpreter's recursion limit, and 100 KB.
nesting = st.fixed_dictionaries(
    {
        "depth": st.integers(min_value=1, max_value=3000) | st.sampled_from([31, 32, 33, 999, 1000, 1001, 100_000]),
        "opener": st.sampled_from(["[", '{"a":', '{"items":']),
        "closed": st.booleans(),
    }
)

# Values that are nearly right: ids that exist or not, dates in odd forms, codes, numbers as text.
dates = st.one_of(
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["2025-02-30", "2025-13-01", "0000-01-01", "9999-12-31T23:59:59+14:00", "", "today", "1.5"]),
)
numbers = st.one_of(st.integers(min_value=-5, max_value=2**63 + 5), st.text(alphabet="0123456789-+. e", max_size=22))


def _ids(world: WebWorld) -> dict[str, list[Any]]:
    residents = [r.pk for r in world.residents] + [world.outsider.pk]
    return {
        "team": [world.team.pk, 0, -1, 2**63],
        "village": [world.village.pk, world.other_village.pk, 10**12],
        "resident": residents,
        "household": [world.household.pk, world.outsider_household.pk],
    }


def near_valid_item(world: WebWorld) -> st.SearchStrategy[dict[str, Any]]:
    ids = _ids(world)

    def ref(name: str) -> st.SearchStrategy[Any]:
        return st.one_of(st.sampled_from(ids[name]), numbers, st.uuids().map(str), any_json)

    capability_item = st.fixed_dictionaries(
        {},
        optional={
            "capability": st.sampled_from(["smartphone", "basic_digital_skills", "fibre_broadband", "nope", ""])
            | any_json,
            "outcome": st.sampled_from(["done", "not_done", "maybe"]) | any_json,
            "reason": st.sampled_from(["no_device", "refused", ""]) | any_json,
        },
    )
    data = st.fixed_dictionaries(
        {},
        optional={
            "team": ref("team"),
            "village": ref("village"),
            "resident": ref("resident"),
            "household": ref("household"),
            "occurred_at": dates | any_json,
            "started_at": dates | any_json,
            "ended_at": dates | any_json,
            "channel": st.sampled_from(["home_visit", "phone", "group", "in_person", "x"]) | any_json,
            "items": st.lists(capability_item | any_json, max_size=4) | any_json,
            "attendees": st.lists(ref("resident"), max_size=4) | any_json,
            "full_name": st.text(max_size=250) | any_json,
            "sex": st.sampled_from(["male", "female", "other", ""]) | any_json,
            "birth_year": numbers | any_json,
            "birth_date": dates | any_json,
            "citizen_id": st.text(alphabet="0123456789 .-", max_size=16) | any_json,
            "phone": st.text(alphabet="0123456789 +.-", max_size=14) | any_json,
            "code": st.text(max_size=50),
            "head_name": st.text(max_size=250),
            "topic": st.text(max_size=300) | any_json,
            "capability": st.text(max_size=30) | any_json,
            "note": st.text(max_size=100) | any_json,
            "consent": st.fixed_dictionaries(
                {},
                optional={
                    "channel": st.text(max_size=12) | any_json,
                    "purposes": st.lists(st.text(max_size=12), max_size=3) | any_json,
                    "given_at": dates | any_json,
                    "notice_version": st.text(max_size=25) | any_json,
                },
            )
            | any_json,
        },
    )
    return st.fixed_dictionaries(
        {
            "kind": st.sampled_from(sync.KINDS) | any_json,
            "client_id": st.uuids().map(str) | st.sampled_from([str(uuid.UUID(int=1)), "", "not-a-uuid"]) | any_json,
            "data": data | any_json,
        }
    )


@pytest.fixture
def member_api(web_world: WebWorld) -> APIClient:  # noqa: F811
    client = APIClient()
    client.force_authenticate(web_world.member)
    return client


@pytest.fixture
def hidden_crashes(monkeypatch) -> list[str]:
    """Items that failed with an unexpected exception (answered ``server_error``, logged)."""
    crashes: list[str] = []

    def record(message: str, *args: Any, **kwargs: Any) -> None:
        crashes.append(message % args)

    monkeypatch.setattr(envelope.logger, "exception", record)
    return crashes


def _post(client: APIClient, body: bytes | str, content_type: str = "application/json"):
    response = client.generic("POST", SYNC_URL, body, content_type=content_type)
    assert response.status_code < 500, response.content[:500]
    return response


def _check_results(response, sent: object, crashes: list[str]) -> None:
    assert crashes == []
    if response.status_code == 200:
        results = response.json()["results"]
        assert isinstance(sent, dict) and len(results) == len(sent["items"])
        assert all(r["status"] in sync.STATUSES for r in results)
    else:
        assert response.status_code in (400, 413, 415), response.status_code
        assert "errors" in response.json()


@fuzz_settings
@given(payload=any_json)
def test_any_json_body_is_answered_without_a_server_error(member_api, hidden_crashes, payload) -> None:
    response = _post(member_api, json.dumps(payload))
    _check_results(response, payload, hidden_crashes)


@fuzz_settings
@given(items=st.lists(any_json, max_size=6))
def test_any_json_items_are_answered_without_a_server_error(member_api, hidden_crashes, items) -> None:
    payload = {"items": items}
    response = _post(member_api, json.dumps(payload))
    _check_results(response, payload, hidden_crashes)


@fuzz_settings
@given(data=st.data())
def test_near_valid_items_get_a_result_each_and_never_a_server_error(
    member_api,
    hidden_crashes,
    web_world: WebWorld,  # noqa: F811
    data,
) -> None:
    items = data.draw(st.lists(near_valid_item(web_world), min_size=1, max_size=5))
    payload = {"items": items}
    response = _post(member_api, json.dumps(payload))
    _check_results(response, payload, hidden_crashes)


@fuzz_settings
@given(shape=nesting, signed_in=st.booleans(), url=st.sampled_from([SYNC_URL, "/api/v1/auth/token/"]))
def test_nested_json_of_any_depth_is_answered_without_a_server_error(
    member_api, hidden_crashes, shape, signed_in, url
) -> None:
    client = member_api if signed_in else APIClient()
    response = client.generic("POST", url, nested_body(**shape), content_type="application/json")
    assert response.status_code < 500, response.content[:300]
    assert hidden_crashes == []
    assert response.status_code in (200, 400, 401, 429), response.status_code


@fuzz_settings
@given(
    body=st.binary(max_size=300),
    content_type=st.sampled_from(["application/json", "text/plain", "multipart/form-data"]),
)
def test_any_bytes_are_answered_without_a_server_error(member_api, hidden_crashes, body, content_type) -> None:
    response = _post(member_api, body, content_type)
    assert hidden_crashes == []
    assert response.status_code in (200, 400, 413, 415), response.status_code
