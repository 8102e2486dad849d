"""The API's schema of what sync reads is the reader's own definition (issue 14 item 6).

Each input (each kind of sync item, the batch envelope, the single log and session POSTs) is
defined once, in ``fieldteam.sync.fields``; the readers read through those definitions and the
OpenAPI schema is generated from them. These tests walk every field of every input: the schema
states the limit, type, choices and requiredness the reader enforces, with the same numbers, and
the reader refuses one past each limit and takes the limit itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

from fieldteam.services.assistance import NOTE_MAX_LENGTH
from fieldteam.sync import fields as spec
from tests.api.conftest import World

SYNC = "/api/v1/sync/"
LOGS = "/api/v1/assistance-logs/"

ROOT_FORMS = [*spec.DATA_OF_KIND.values(), spec.ASSISTANCE_LOG_POST, spec.TRAINING_SESSION_POST]


def _forms() -> Iterator[spec.Form]:
    """Every form an input is made of, nested ones included, each once."""
    seen: set[int] = set()
    pending = list(ROOT_FORMS)
    while pending:
        form = pending.pop()
        if id(form) in seen:
            continue
        seen.add(id(form))
        yield form
        for field in form.fields:
            if isinstance(field, spec.Nested):
                pending.append(field.form)
            elif isinstance(field, spec.ListOf) and isinstance(field.of, spec.Form):
                pending.append(field.of)


FORMS = list(_forms())
FIELDS = [(form, field) for form in FORMS for field in form.fields]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated, renderer_context={}))


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` (or a single ``allOf`` wrapping one) followed."""
    if "allOf" in node and len(node["allOf"]) == 1:
        node = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
    if "$ref" in node:
        target = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _component(schema: dict[str, Any], form: spec.Form) -> dict[str, Any]:
    return schema["components"]["schemas"][f"{form.name}Request"]  # COMPONENT_SPLIT_REQUEST


def _request_body(schema: dict[str, Any], path: str) -> dict[str, Any]:
    body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return _resolve(schema, body)


def _enum(schema: dict[str, Any], node: dict[str, Any]) -> set[str]:
    """The values an enum node (or a oneOf of enums, blank and null among them) allows, but blank."""
    node = _resolve(schema, node)
    if "oneOf" in node:
        return set().union(*(_enum(schema, option) for option in node["oneOf"])) - {""}
    return {value for value in node.get("enum", []) if value not in ("", None)}


# --- the schema states the definitions -------------------------------------------------------------


def test_the_requests_are_the_definitions(schema) -> None:
    batch = _request_body(schema, SYNC)
    assert batch["properties"][spec.BATCH_ITEMS_NAME]["maxItems"] == spec.MAX_BATCH_ITEMS == 500
    assert batch["required"] == [spec.BATCH_ITEMS_NAME]
    union = _resolve(schema, batch["properties"][spec.BATCH_ITEMS_NAME]["items"])
    assert set(union["discriminator"]["mapping"]) == set(spec.KINDS)
    for kind, form in spec.DATA_OF_KIND.items():
        item = _resolve(schema, {"$ref": union["discriminator"]["mapping"][kind]})
        assert _enum(schema, item["properties"]["kind"]) == {kind}
        assert set(item["required"]) == {"kind", spec.ITEM_CLIENT_ID.name, "data"}
        assert item["properties"][spec.ITEM_CLIENT_ID.name]["format"] == "uuid"
        assert _resolve(schema, item["properties"]["data"]) == _component(schema, form)
    assert _request_body(schema, LOGS) == _component(schema, spec.ASSISTANCE_LOG_POST)
    assert _request_body(schema, "/api/v1/training-sessions/") == _component(schema, spec.TRAINING_SESSION_POST)


def test_the_limits_of_a_log_come_from_one_constant_each(schema) -> None:
    for form in (spec.ASSISTANCE_LOG_DATA, spec.ASSISTANCE_LOG_POST):
        properties = _component(schema, form)["properties"]
        assert properties["items"]["maxItems"] == spec.MAX_LOG_ITEMS == 50
        assert properties["items"]["minItems"] == 1
        assert properties["note"]["maxLength"] == NOTE_MAX_LENGTH == 2000


@pytest.mark.parametrize(("form", "field"), FIELDS, ids=[f"{form.name}.{field.name}" for form, field in FIELDS])
def test_each_field_is_in_the_schema_as_defined(schema, form: spec.Form, field: spec.Field) -> None:
    component = _component(schema, form)
    assert set(component["properties"]) == set(form.names)
    assert (field.name in component.get("required", [])) == field.required
    node = component["properties"][field.name]
    assert node.get("nullable", False) == (not field.required)  # an optional field takes null as absent
    if isinstance(field, spec.Text):
        assert node["maxLength"] == field.max_length
        assert node.get("minLength", 0) == (1 if field.required else 0)
    elif isinstance(field, spec.Choice):
        assert _enum(schema, node) == set(field.values)
    elif isinstance(field, spec.ServerId):
        assert (node["type"], node["minimum"], node["maximum"]) == ("integer", 1, spec.ID_LIMIT - 1)
    elif isinstance(field, spec.WholeNumber):
        assert (node["minimum"], node["maximum"]) == (1 - spec.INT_LIMIT, spec.INT_LIMIT - 1)
    elif isinstance(field, spec.ListOf):
        assert node["type"] == "array"
        assert node.get("maxItems") == field.max_items
        assert node.get("minItems", 0) == field.min_items
        if isinstance(field.of, spec.Form):
            assert _resolve(schema, node["items"]) == _component(schema, field.of)
        elif isinstance(field.of, spec.Choice):
            assert _enum(schema, node["items"]) == set(field.of.values)
    elif isinstance(field, spec.Nested):
        assert _resolve(schema, node)["properties"] == _component(schema, field.form)["properties"]
    elif isinstance(field, spec.Instant | spec.Day | spec.ClientId):
        expected = {spec.Instant: "date-time", spec.Day: "date", spec.ClientId: "uuid"}[type(field)]
        assert node["format"] == expected


# --- the reader enforces the same definitions ------------------------------------------------------


def _read(form: spec.Form, field: spec.Field, value: Any) -> dict[str, list[str]]:
    reader = spec.Reader({field.name: value}, form)
    field.read(reader)
    return {name: [e.code for e in errors] for name, errors in reader.errors.items()}


@pytest.mark.parametrize(("form", "field"), FIELDS, ids=[f"{form.name}.{field.name}" for form, field in FIELDS])
def test_the_reader_knows_exactly_the_fields_of_the_schema(form: spec.Form, field: spec.Field) -> None:
    assert spec.Reader({field.name: None}, form).errors == {}
    assert spec.Reader({f"{field.name}x": None}, form).errors[f"{field.name}x"][0].code == "unknown_field"


TEXTS = [(form, field) for form, field in FIELDS if isinstance(field, spec.Text)]
LISTS = [(form, field) for form, field in FIELDS if isinstance(field, spec.ListOf) and field.max_items]
REQUIRED = [(form, field) for form, field in FIELDS if field.required and not isinstance(field, spec.ClientId)]
# Read here, not by the envelope (client ids) or the kind's reader (a nested form).
OPTIONAL = [
    (f, field) for f, field in FIELDS if not field.required and not isinstance(field, spec.ClientId | spec.Nested)
]


@pytest.mark.parametrize(("form", "field"), TEXTS, ids=[f"{form.name}.{field.name}" for form, field in TEXTS])
def test_the_reader_holds_each_text_to_its_max_length(form: spec.Form, field: spec.Text) -> None:
    assert _read(form, field, "x" * field.max_length) == {}
    assert _read(form, field, "x" * (field.max_length + 1)) == {field.name: ["too_long"]}


@pytest.mark.parametrize(("form", "field"), LISTS, ids=[f"{form.name}.{field.name}" for form, field in LISTS])
def test_the_reader_holds_each_list_to_its_max_items(form: spec.Form, field: spec.ListOf) -> None:
    assert field.max_items is not None
    assert _read(form, field, [None] * field.max_items) == {}  # the entries are read by the kind's reader
    assert _read(form, field, [None] * (field.max_items + 1)) == {field.name: ["too_many"]}
    if field.min_items:
        assert _read(form, field, []) == {field.name: ["required"]}


@pytest.mark.parametrize(("form", "field"), REQUIRED, ids=[f"{form.name}.{field.name}" for form, field in REQUIRED])
def test_the_reader_requires_what_the_schema_requires(form: spec.Form, field: spec.Field) -> None:
    reader = spec.Reader({}, form)
    field.read(reader)
    assert [e.code for e in reader.errors[field.name]] == ["required"]


@pytest.mark.parametrize(("form", "field"), OPTIONAL, ids=[f"{form.name}.{field.name}" for form, field in OPTIONAL])
def test_the_reader_takes_null_for_an_optional_field(form: spec.Form, field: spec.Field) -> None:
    assert _read(form, field, None) == {}


# --- and so does the API, end to end --------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("log_path")
def test_a_log_at_the_limits_is_taken_and_one_past_them_refused(world: World, client_for) -> None:
    place = world.places["V1"]
    capabilities = ["smartphone", "basic_digital_skills"]

    def log(note: str, items: int) -> dict[str, Any]:
        return {
            "team": place.team.pk,
            "resident": place.resident.pk,
            "occurred_at": timezone.now().isoformat(),
            "channel": "home_visit",
            "note": note,
            "items": [
                {"capability": capabilities[i % 2], "outcome": "not_done", "reason": "absent"} for i in range(items)
            ],
        }

    client = client_for(world.member)
    too_long = client.post(LOGS, {"id": str(uuid.uuid4()), **log("x" * (NOTE_MAX_LENGTH + 1), 1)}, format="json")
    assert too_long.status_code == 400 and too_long.json()["codes"] == {"note": ["too_long"]}
    too_many = client.post(
        SYNC,
        {
            "items": [
                {"kind": "assistance_log", "client_id": str(uuid.uuid4()), "data": log("", spec.MAX_LOG_ITEMS + 1)}
            ]
        },
        format="json",
    )
    assert too_many.json()["results"][0]["status"] == "rejected"
    assert list(too_many.json()["results"][0]["errors"]) == ["items"]
    at_the_limit = client.post(LOGS, {"id": str(uuid.uuid4()), **log("x" * NOTE_MAX_LENGTH, 1)}, format="json")
    assert at_the_limit.status_code == 201, at_the_limit.json()
    assert len(at_the_limit.json()["note"]) == NOTE_MAX_LENGTH
