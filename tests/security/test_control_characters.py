"""Control characters and nested JSON, tried on every route: a 400 naming the field, never a 5xx.

PostgreSQL refuses NUL in text (a 500 wherever a NUL reached a query: a slug lookup, a filter, a
search), and DRF's JSON parser let a ``RecursionError`` through (about 2 KB of ``[`` was a 500 on
every endpoint). The routes and their parameters are read from the URL resolver and the OpenAPI
schema, so a new endpoint, filter or field is attacked without being listed here:

- every query parameter the schema declares (and undeclared ones), every path parameter;
- every field of every JSON body the schema declares, nested ones by their path, and the same
  fields sent as a form;
- deeply nested JSON (2 KB and 100 KB of ``[``, and just past the limit) on every operation with a
  body, the unauthenticated token endpoint included;
- every page of the mobile web, the dashboards and the admin, with a query parameter and a form post;
- the session cookie and the ``Authorization`` header.

Run on SQLite and on PostgreSQL (``DATABASE_URL=postgres://...``), where a NUL that got through
would fail the query.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import NoReverseMatch, get_resolver, resolve, reverse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from rest_framework.test import APIClient

from fieldteam.api import parsers
from fieldteam.control_characters import CONTROL_CODE, MAX_JSON_DEPTH, TOO_DEEP_CODE, check_json
from tests.api.conftest import World
from tests.security.test_leaks_api import api_routes, walk

pytestmark = pytest.mark.django_db

# NUL (what PostgreSQL refuses), another C0, DEL, two C1 controls.
CONTROLS = ["\x00", "\x1b", "\x7f", "\x85", "\x9f"]
NUL_TEXT = "ab\x00cd"
# Nested JSON: about 2 KB and 100 KB of brackets (past the interpreter's recursion limit), and just
# past the parser's own limit (well within the interpreter's).
DEEP_BODIES = {
    "2 KB of [": "[" * 2_000,
    "100 KB of [": "[" * 100_000,
    "2 KB of {": '{"a":' * 400 + "1" + "}" * 400,
    "one level past the limit": "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
    "past the limit in a field": json.dumps({"items": [{"data": functools.reduce(lambda v, _: [v], range(40), 1)}]}),
}


# --- the OpenAPI schema: operations, their parameters and body fields ------------------------------


@functools.cache
def openapi() -> dict[str, Any]:
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated, renderer_context={}))


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path template, operation) of every operation of the API."""
    return [
        (method, path, operation)
        for path, methods in openapi()["paths"].items()
        for method, operation in methods.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = openapi()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for combined in ("allOf", "oneOf", "anyOf"):
        if combined in schema and len(schema[combined]) == 1:
            return _resolve(schema[combined][0])
    return schema


def body_fields(schema: dict[str, Any], prefix: tuple[Any, ...] = (), depth: int = 0) -> Iterator[tuple[Any, ...]]:
    """The path of every field a request body schema declares: ``("items", 0, "kind")``."""
    schema = _resolve(schema)
    if depth > 5:
        return
    for name, child in schema.get("properties", {}).items():
        yield (*prefix, name)
        child = _resolve(child)
        if child.get("type") == "array" and "items" in child:
            items = _resolve(child["items"])
            yield (*prefix, name, 0)
            yield from body_fields(items, (*prefix, name, 0), depth + 1)
        elif child.get("properties"):
            yield from body_fields(child, (*prefix, name), depth + 1)


def error_path(path: tuple[Any, ...]) -> str:
    """How the API names a field: ``items[0].kind``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def body_with(path: tuple[Any, ...], leaf: Any) -> Any:
    """A body holding ``leaf`` at ``path`` and nothing else."""
    value = leaf
    for part in reversed(path):
        value = [value] if isinstance(part, int) else {part: value}
    return value


# The API's path parameters: a real object of the test world (so a view reaches its body), by prefix.
REAL_OBJECTS = {
    "/api/v1/areas/": lambda w: w.tree.village.pk,
    "/api/v1/teams/": lambda w: w.places["V1"].team.pk,
    "/api/v1/households/": lambda w: w.places["V1"].household.pk,
    "/api/v1/residents/": lambda w: w.places["V1"].resident.pk,
    "/api/v1/assistance-logs/": lambda w: w.places["V1"].log.pk,
    "/api/v1/training-sessions/": lambda w: w.places["V1"].session.pk,
    "/api/v1/reported-values/": lambda w: w.reported["V1"].pk,
}


def url_of(path: str, world: World, **override: str) -> str:
    real = next((find(world) for prefix, find in REAL_OBJECTS.items() if path.startswith(prefix)), 1)
    values = {"id": str(real), "job_id": str(uuid.uuid4()), **override}
    for name, value in values.items():
        path = path.replace(f"{{{name}}}", value)
    return path


def _errors(response: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    body = response.json()
    return body.get("errors", {}), body.get("codes", {})


def refused_naming(response: Any, field: str, code: str = CONTROL_CODE) -> bool:
    if response.status_code != 400:
        return False
    errors, codes = _errors(response)
    return field in errors and codes.get(field) == [code]


@pytest.fixture
def api(world: World, client_for) -> APIClient:
    client = client_for(world.users["superuser"])
    client.raise_request_exception = False
    return client


# --- the API: query and path parameters ------------------------------------------------------------


def test_every_query_parameter_of_every_api_operation_refuses_control_characters(world: World, api) -> None:
    wrong = []
    for method, path, operation in operations():
        url = url_of(path, world)
        declared = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        for name, char in itertools.product([*declared, "q", "undeclared"], CONTROLS):
            response = api.generic(method.upper(), f"{url}?{name}={quote('ab' + char)}")
            if not refused_naming(response, name):
                wrong.append((method, path, name, repr(char), response.status_code))
        # The parameter's name itself.
        response = api.generic(method.upper(), f"{url}?{quote('na' + chr(0) + 'me')}=1")
        if response.status_code != 400:
            wrong.append((method, path, "name with NUL", response.status_code))
    assert not wrong, f"(method, path, parameter, char, status) not refused with a 400 naming it: {wrong}"


def test_a_control_character_in_a_path_parameter_is_a_400_or_a_404_never_a_5xx(world: World, api) -> None:
    wrong = []
    for method, path, operation in operations():
        for param in [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]:
            for char in CONTROLS:
                response = api.generic(method.upper(), url_of(path, world, **{param: quote("1" + char)}))
                if response.status_code == 404:
                    continue
                # Named, or (a path no route matches: an id is digits, a job id a UUID) "path".
                if not (refused_naming(response, param) or refused_naming(response, "path")):
                    wrong.append((method, path, param, repr(char), response.status_code))
    assert not wrong, f"(method, path, parameter, char, status): {wrong}"


def test_the_reported_value_slug_lookup_with_nul_is_a_400_naming_the_indicator(world: World, api) -> None:
    """The example that broke CI on PostgreSQL (schemathesis, not produced on every run)."""
    body = {"indicator": "\x00", "area": world.tree.village.pk, "period": "2025", "value": "1"}

    response = api.post("/api/v1/reported-values/", body, format="json")

    assert refused_naming(response, "indicator"), response.content
    assert api.get("/api/v1/reported-values/", {"indicator": "\x00"}).status_code == 400


# --- the API: bodies --------------------------------------------------------------------------------


def _operations_with_bodies() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation["requestBody"]["content"])
        for method, path, operation in operations()
        if operation.get("requestBody")
    ]


def _delegated(url: str) -> tuple[str, ...]:
    """The paths whose string values the route's view refuses itself (``json_values_checked_by_view``)."""
    callback = resolve(url).func
    view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    return tuple(getattr(view, "json_values_checked_by_view", ()))


def _rejected_by_the_view(response: Any) -> bool:
    """Sync: the batch answered, every item rejected (the view's own refusal, item by item)."""
    results = response.json().get("results") if response.status_code == 200 else None
    return bool(results) and all(r["status"] == "rejected" for r in results)


def test_every_declared_json_body_field_refuses_control_characters(world: World, api) -> None:
    wrong, tried = [], 0
    for method, path, content in _operations_with_bodies():
        url = url_of(path, world)
        delegated = _delegated(url)
        for field in body_fields(content["application/json"]["schema"]):
            shape = re.sub(r"\[\d+\]", "[]", error_path(field))  # items[0].data -> items[].data
            for char in CONTROLS:
                tried += 1
                response = api.generic(
                    method.upper(), url, json.dumps(body_with(field, f"ab{char}cd")), content_type="application/json"
                )
                if refused_naming(response, error_path(field)):
                    continue
                if any(shape.startswith(d) for d in delegated) and _rejected_by_the_view(response):
                    continue
                wrong.append((method, path, error_path(field), repr(char), response.status_code))
    assert tried > 100  # the schema was read
    assert not wrong, f"(method, path, field, char, status) not refused with a 400 naming the field: {wrong}"


def test_every_declared_body_field_sent_as_a_form_refuses_control_characters(world: World, api) -> None:
    wrong = []
    for method, path, content in _operations_with_bodies():
        url = url_of(path, world)
        fields = [f for f in body_fields(content["application/json"]["schema"]) if len(f) == 1]
        for (field,), kind in itertools.product(fields, ["multipart", "urlencoded"]):
            if kind == "multipart":
                response = api.generic(method.upper(), url, **_multipart({field: NUL_TEXT}))
            else:
                body = f"{quote(field)}={quote(NUL_TEXT)}"
                response = api.generic(method.upper(), url, body, content_type="application/x-www-form-urlencoded")
            if not refused_naming(response, field):
                wrong.append((method, path, field, kind, response.status_code))
    assert not wrong, f"(method, path, field, form, status): {wrong}"


def _multipart(data: dict[str, str]) -> dict[str, Any]:
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    return {"data": encode_multipart(BOUNDARY, data), "content_type": MULTIPART_CONTENT}


@pytest.mark.parametrize(
    ("field", "data"),
    [
        ("note", {"team": 1, "note": NUL_TEXT}),
        ("code", {"village": 1, "code": "a\x1bb"}),
        ("head_name", {"village": 1, "head_name": "a\x85b"}),
        ("address", {"village": 1, "address": "a\x00b"}),
        ("code", {"village": 1, "code": "Nay \ud800"}),  # a lone surrogate
    ],
)
def test_a_control_character_in_a_sync_item_rejects_that_item_only(world: World, api, field: str, data) -> None:
    """The sync contract: a bad item never blocks the others. The item's values are refused by
    ``fieldteam.sync`` with the parsers' rule, naming the field; the good item is created."""
    good = {"kind": "household", "client_id": str(uuid.uuid4()), "data": {"village": world.tree.village.pk}}
    bad = {"kind": "household", "client_id": str(uuid.uuid4()), "data": {**data, "village": world.tree.village.pk}}
    body = json.dumps({"items": [good, bad]})  # ASCII: a lone surrogate escaped, as a client may send it

    response = api.generic("POST", "/api/v1/sync/", body, content_type="application/json")

    assert response.status_code == 200, response.content
    first, second = response.json()["results"]
    assert first["status"] == "created"
    assert second["status"] == "rejected" and field in second["errors"], second


@pytest.mark.parametrize(
    ("field", "item"),
    [
        ("items[1].kind", {"kind": "house\x00hold"}),
        ("items[1].client_id", {"client_id": "\x00"}),
        ("items[1].data", {"data": {"no\x00te": "x"}}),  # a key, even inside an item's data
        ("items[1]", {"ki\x1bnd": "household"}),
    ],
)
def test_a_control_character_in_a_sync_envelope_or_key_is_a_400_naming_it(api, field: str, item) -> None:
    base = {"kind": "household", "client_id": str(uuid.uuid4()), "data": {}}

    response = api.post("/api/v1/sync/", {"items": [base, {**base, **item}]}, format="json")

    assert refused_naming(response, field), response.content


def test_tab_newline_and_carriage_return_are_kept(world: World, api) -> None:
    note = "Dòng một\r\nDòng hai\tcột"
    body = {"indicator": world.grdp.code, "area": world.tree.village.pk, "period": "2024", "value": "3", "note": note}

    response = api.post("/api/v1/reported-values/", body, format="json")

    assert response.status_code == 201, response.content
    check_json({"note": note, "items": [note]})  # no error


@pytest.mark.parametrize("body", DEEP_BODIES.values(), ids=DEEP_BODIES.keys())
def test_deeply_nested_json_is_a_400_on_every_operation_with_a_body(world: World, api, body: str) -> None:
    wrong = []
    for method, path, _content in _operations_with_bodies():
        response = api.generic(method.upper(), url_of(path, world), body, content_type="application/json")
        if response.status_code != 400 or TOO_DEEP_CODE not in json.dumps(response.json()["codes"]):
            wrong.append((method, path, response.status_code))
    anonymous = APIClient(raise_request_exception=False)
    token = anonymous.generic("POST", "/api/v1/auth/token/", body, content_type="application/json")
    if token.status_code != 400:
        wrong.append(("post", "/api/v1/auth/token/ (signed out)", token.status_code))
    assert not wrong, f"(method, path, status) not refused with a 400 too_deep: {wrong}"


def test_json_at_the_depth_limit_is_parsed() -> None:
    check_json(functools.reduce(lambda value, _: [value], range(MAX_JSON_DEPTH - 1), []))


def test_every_api_view_parses_with_the_guarded_parsers() -> None:
    """A view that set its own ``parser_classes`` would bypass the checks: none does."""
    guarded = (parsers.JSONParser, parsers.FormParser, parsers.MultiPartParser)
    wrong = []
    for name, pattern in api_routes().items():
        view = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
        for parser in getattr(view, "parser_classes", []):
            if not issubclass(parser, guarded):
                wrong.append((name, parser.__name__))
    assert not wrong


# --- headers: the session cookie and the token ------------------------------------------------------


def test_a_session_cookie_with_nul_is_a_400_not_a_query(world: World) -> None:
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "abcdefgh\x00ijklmnop"
    for url in ["/", "/api/v1/me/", reverse("admin:index")]:
        response = client.get(url)
        assert response.status_code == 400, (url, response.status_code)


def test_a_token_with_nul_is_a_400_not_a_query(world: World) -> None:
    client = APIClient(raise_request_exception=False)
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION="Token abc\x00def")
    assert refused_naming(response, "Authorization"), response.content


# --- pages: the mobile web, the dashboards, the admin -----------------------------------------------

SAMPLES = ["1", str(uuid.UUID(int=7)), "fieldteam", "resident", "x"]


def page_urls() -> dict[str, str]:
    """A URL for every named page outside the API (sample values for its parameters)."""
    urls = {}
    for name, pattern in walk(get_resolver().url_patterns):
        if name.startswith("api:"):
            continue
        params = list(pattern.pattern.regex.groupindex)
        for values in itertools.product(SAMPLES, repeat=len(params)):
            try:
                urls[name] = reverse(name, kwargs=dict(zip(params, values, strict=True)))
                break
            except NoReverseMatch:
                continue
    return urls


@pytest.fixture
def web(world: World) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(world.users["superuser"])
    return client


def test_every_page_refuses_a_control_character_in_a_query_parameter(web: Client) -> None:
    urls = page_urls()
    assert len(urls) > 50 and "admin:fieldteam_resident_changelist" in urls and "web:search" in urls
    wrong = []
    for name, url in urls.items():
        for param in ["q", "village__id__exact", "o", "p"]:
            response = web.get(f"{url}?{param}={quote(NUL_TEXT)}")
            if response.status_code != 400 or param.encode() not in response.content:
                wrong.append((name, param, response.status_code))
        if web.get(f"{url}?x{quote(chr(0))}=1").status_code != 400:
            wrong.append((name, "name with NUL", None))
    assert not wrong, f"(page, parameter, status): {wrong}"


def test_every_page_refuses_a_control_character_in_a_form_post(web: Client) -> None:
    wrong = []
    for name, url in page_urls().items():
        for char in CONTROLS:
            response = web.post(url, {"q": f"ab{char}", "username": "someone", "note": "ok"})
            if response.status_code != 400:
                wrong.append((name, repr(char), response.status_code))
        multipart = web.post(url, {"title": NUL_TEXT})
        urlencoded = web.post(url, f"title={quote(NUL_TEXT)}", content_type="application/x-www-form-urlencoded")
        if multipart.status_code != 400 or urlencoded.status_code != 400:
            wrong.append((name, "title", multipart.status_code, urlencoded.status_code))
    assert not wrong, f"(page, char, status): {wrong}"


def test_the_refusal_page_is_translated_and_names_the_parameter(web: Client) -> None:
    response = web.get(reverse("web:search"), {"q": NUL_TEXT}, HTTP_ACCEPT_LANGUAGE="vi")

    assert response.status_code == 400
    text = response.content.decode()
    assert "<strong>q</strong>" in text and "Hãy xóa các ký tự điều khiển" in text


def test_the_sign_in_forms_refuse_a_nul_in_the_user_name_signed_out() -> None:
    client = Client(raise_request_exception=False)
    for name in ("web:login", "dashboards:login", "admin:login"):
        response = client.post(reverse(name), {"username": "a\x00", "password": "x"})
        assert response.status_code == 400, name
    token = APIClient(raise_request_exception=False).post(
        "/api/v1/auth/token/", {"username": "a\x00", "password": "x"}, format="json"
    )
    assert refused_naming(token, "username")


def test_text_that_may_have_lines_passes_the_page_check(web: Client, world: World) -> None:
    response = web.post(reverse("web:search"), {"q": "Siu\tH'Ben\r\n"})
    assert response.status_code != 400
