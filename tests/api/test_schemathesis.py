"""Property-based API testing with schemathesis: no request the schema allows (or nearly allows) gets a 5xx.

Run by its own step of ``.ci/run``, on PostgreSQL (whose stricter types catch more), with
``SCHEMATHESIS=1``; skipped in the ordinary suites, where it would only double their time.
Every operation of the OpenAPI schema is called in-process through the WSGI app, as a superuser
(who may reach every code path), with generated valid and invalid parameters and bodies; an
operation on one object is also called on a real object of the test world. Derandomised and
bounded (``SCHEMATHESIS_EXAMPLES`` per operation, default 25) so that CI stays fast and stable;
``SCHEMATHESIS=1 SCHEMATHESIS_EXAMPLES=500 SCHEMATHESIS_RANDOM=1 pytest tests/api/test_schemathesis.py``
digs deeper.

Generated examples come by chance: a NUL in a slug lookup (a 500 on PostgreSQL) was produced on
some runs only. So ``test_hostile_text_never_gets_a_server_error`` sends, on every run and every
operation, a NUL and other control characters in each query parameter, path parameter and body
field, and a body nested far past the parser's limit (``tests/security/test_control_characters.py``
checks the same in the ordinary suites, with the exact 400s).
"""

from __future__ import annotations

import functools
import json
import os

import pytest

ENABLED = os.environ.get("SCHEMATHESIS") == "1"
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
RANDOM = os.environ.get("SCHEMATHESIS_RANDOM") == "1"

if not ENABLED:

    @pytest.mark.skip(reason="run by .ci/run's schemathesis step (set SCHEMATHESIS=1)")
    def test_no_request_gets_a_server_error() -> None:
        """Placeholder: the real test is built from the schema when SCHEMATHESIS=1."""

else:
    import schemathesis
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer
    from hypothesis import HealthCheck, settings
    from rest_framework.authtoken.models import Token
    from rest_framework.throttling import SimpleRateThrottle
    from schemathesis.checks import not_a_server_error

    from tests.api.conftest import World

    def _schema() -> dict:
        generated = SchemaGenerator().get_schema(request=None, public=True)
        return json.loads(OpenApiJsonRenderer().render(generated, renderer_context={}))

    schema = schemathesis.openapi.from_dict(_schema())
    app = get_wsgi_application()

    # Path prefix -> how to find a real object of the test world for ``{id}``.
    REAL_OBJECTS = {
        "/api/v1/areas/": lambda w: w.tree.village.pk,
        "/api/v1/teams/": lambda w: w.places["V1"].team.pk,
        "/api/v1/households/": lambda w: w.places["V1"].household.pk,
        "/api/v1/residents/": lambda w: w.places["V1"].resident.pk,
        "/api/v1/assistance-logs/": lambda w: str(w.places["V1"].log.pk),
        "/api/v1/training-sessions/": lambda w: str(w.places["V1"].session.pk),
        "/api/v1/reported-values/": lambda w: w.reported["V1"].pk,
    }

    @pytest.fixture
    def keep_the_test_connection():
        """Like Django's test client: the WSGI handler must not close the test's database connection."""
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        yield
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)

    @pytest.fixture
    def superuser_headers(world: World, monkeypatch, keep_the_test_connection) -> dict[str, str]:
        # Fuzzing sends hundreds of requests a minute: lift the rates, which are tested elsewhere.
        monkeypatch.setattr(
            SimpleRateThrottle, "THROTTLE_RATES", dict.fromkeys(SimpleRateThrottle.THROTTLE_RATES, None)
        )
        token, _created = Token.objects.get_or_create(user=world.users["superuser"])
        return {"Authorization": f"Token {token.key}"}

    HOSTILE_TEXTS = ["\x00", "ab\x00cd", "\x1b[0m", "\x7f", "\x85"]
    DEEP = functools.reduce(lambda value, _: [value], range(200), [])

    def _operations() -> list[tuple[str, str, dict]]:
        document = _schema()
        return [
            (path, method, operation)
            for path, methods in document["paths"].items()
            for method, operation in methods.items()
            if method in {"get", "post", "put", "patch", "delete"}
        ]

    def _body_fields(operation: dict, document: dict) -> list[str]:
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if not content:
            return []
        body = content["schema"]
        while "$ref" in body:
            body = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
        return list(body.get("properties", {}))

    @pytest.mark.django_db
    @pytest.mark.parametrize(
        ("path", "method", "operation"), _operations(), ids=lambda v: v if isinstance(v, str) else ""
    )
    def test_hostile_text_never_gets_a_server_error(
        path: str, method: str, operation: dict, world: World, superuser_headers: dict[str, str]
    ) -> None:
        api_operation = schema[path][method.upper()]
        real = next((find(world) for prefix, find in REAL_OBJECTS.items() if path.startswith(prefix)), 1)
        path_parameters = {p["name"]: real for p in operation.get("parameters", []) if p["in"] == "path"}
        query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        fields = _body_fields(operation, _schema())
        cases = []
        for text in HOSTILE_TEXTS:
            cases += [api_operation.Case(path_parameters=path_parameters, query={name: text}) for name in query]
            cases += [
                api_operation.Case(path_parameters={**path_parameters, name: f"1{text}"}) for name in path_parameters
            ]
            cases += [
                api_operation.Case(path_parameters=path_parameters, body={name: text}, media_type="application/json")
                for name in fields
            ]
        if fields:
            cases.append(api_operation.Case(path_parameters=path_parameters, body=DEEP, media_type="application/json"))
        assert cases or not (query or path_parameters or fields)
        for case in cases:
            response = case.call(app=app, headers=superuser_headers)
            case.validate_response(response, checks=[not_a_server_error])

    @pytest.mark.django_db
    @schema.parametrize()
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def test_no_request_gets_a_server_error(case, world: World, superuser_headers: dict[str, str]) -> None:
        response = case.call(app=app, headers=superuser_headers)
        case.validate_response(response, checks=[not_a_server_error])
        if case.path_parameters and "id" in case.path_parameters:
            real = next((find for prefix, find in REAL_OBJECTS.items() if case.path.startswith(prefix)), None)
            if real is not None:
                case.path_parameters = {**case.path_parameters, "id": real(world)}
                response = case.call(app=app, headers=superuser_headers)
                case.validate_response(response, checks=[not_a_server_error])
