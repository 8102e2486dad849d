"""Every service that locks rows or promises one transaction opens its own (issue 13, item 3).

``anonymise_resident`` took row locks (``select_for_update``) without a transaction of its own: it
worked in tests, where each test runs inside a transaction, and on SQLite, and answered 500 on
PostgreSQL as a request runs it (``select_for_update cannot be used outside of a transaction``).
The class is checked two ways:

- statically, for every public function of ``fieldteam/services/``: one that reaches a lock (a
  ``select_for_update``, a counts lock of ``fieldteam/locks.py``, or a helper documented to run in
  its caller's transaction) outside a ``transaction.atomic`` must be such a helper itself, named
  in ``RUNS_IN_CALLERS_TRANSACTION`` and saying so in its docstring; one whose docstring promises
  one transaction must open it;
- at run time, as a request runs them (``transaction=True``: no transaction around the test), on
  both databases: the erasure services, the anonymise endpoint and the admin action, with the
  roles that may and may not.
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

import fieldteam.rollup
import fieldteam.services
from fieldteam.models import AuditEntry, Resident
from fieldteam.selectors import person_data
from fieldteam.services import privacy
from fieldteam.services.consent import withdraw_consent
from tests.api.conftest import capabilities, client_for, world

__all__ = ["capabilities", "client_for", "world"]  # fixtures of the API's world

SERVICES = Path(fieldteam.services.__file__).parent
# The roll-up's writers (counting rules, recompute, masks, the one-statement log) left the services
# for ``fieldteam/rollup/`` and are held to the same rules: named ``rules.…``, ``recompute.…``.
ROLLUP = Path(fieldteam.rollup.__file__).parent
# A service run through ``transactions.in_callers_transaction`` runs (and locks) in the caller's.
LOCK_CALLS = {"select_for_update", "province_counts_shared", "province_counts_exclusive", "in_callers_transaction"}
# Public helpers that run inside a transaction their caller holds (each says so in its docstring).
RUNS_IN_CALLERS_TRANSACTION = {
    "assistance.create_log",
    "rules.rules_for_writes",
    "rules.adjust_counts",
    "derivations.refresh_households",
    "derivations.gain_from_member",
    "consent.create_consent",
    "privacy.scrub_identifiers",
    "jobs.redact_job_files",
}
# "One transaction" promised in a docstring ("Not one transaction" says the opposite).
PROMISES = re.compile(r"(?<!not )\bone transaction\b", re.IGNORECASE)


def _is_atomic(node: ast.AST) -> bool:
    return "atomic" in ast.unparse(node)


def _calls_outside_atomic(function: ast.FunctionDef) -> set[str]:
    """The names called by ``function`` outside any ``with transaction.atomic()`` block."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.With | ast.AsyncWith) and any(_is_atomic(i.context_expr) for i in node.items):
            return
        if isinstance(node, ast.FunctionDef | ast.Lambda) and node is not function:
            return
        if isinstance(node, ast.Call):
            found.add(ast.unparse(node.func).rsplit(".", 1)[-1])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(function)
    return found


def _service_functions() -> dict[str, tuple[str, ast.FunctionDef]]:
    functions: dict[str, tuple[str, ast.FunctionDef]] = {}
    for package in (SERVICES, ROLLUP):
        for info in pkgutil.iter_modules([str(package)]):
            tree = ast.parse((package / f"{info.name}.py").read_text())
            for node in tree.body:
                if isinstance(node, ast.FunctionDef):
                    functions[f"{info.name}.{node.name}"] = (info.name, node)
    return functions


def _needing_a_transaction() -> dict[str, set[str]]:
    """Each service function that reaches a lock outside a transaction of its own, with what it reaches.

    A function decorated with ``transaction.atomic`` needs none from its caller; otherwise it needs
    one if, outside its atomic blocks, it calls a lock or a function (of any service module) that
    needs one. Names are matched by their last part, so a call through a module alias counts too.
    """
    functions = _service_functions()
    by_name: dict[str, list[str]] = {}
    for key in functions:
        by_name.setdefault(key.split(".", 1)[1], []).append(key)
    needs: dict[str, set[str]] = {}
    changed = True
    while changed:
        changed = False
        for key, (_module, node) in functions.items():
            if any(_is_atomic(d) for d in node.decorator_list):
                continue
            reached = set()
            for name in _calls_outside_atomic(node):
                if name in LOCK_CALLS:
                    reached.add(name)
                reached.update(k for k in by_name.get(name, []) if k in needs and k != key)
            if reached and reached - needs.get(key, set()):
                needs[key] = needs.get(key, set()) | reached
                changed = True
    return needs


def test_every_public_service_that_locks_opens_its_own_transaction() -> None:
    needs = _needing_a_transaction()
    offenders = {
        key: sorted(reached)
        for key, reached in needs.items()
        if not key.split(".", 1)[1].startswith("_") and key not in RUNS_IN_CALLERS_TRANSACTION
    }
    assert not offenders, f"lock outside a transaction of their own: {offenders}"


def test_the_helpers_that_run_in_their_callers_transaction_say_so() -> None:
    functions = _service_functions()
    for key in RUNS_IN_CALLERS_TRANSACTION:
        assert key in functions, key
        doc = ast.get_docstring(functions[key][1]) or ""
        # Said in words, or it is itself a lock helper of the writers (their transaction-scoped lock).
        assert ("transaction" in doc and ("caller" in doc or "inside" in doc.lower())) or "lock" in doc, key


def test_every_service_that_promises_one_transaction_opens_it() -> None:
    offenders = []
    for key, (_module, node) in _service_functions().items():
        doc = ast.get_docstring(node) or ""
        name = key.split(".", 1)[1]
        if name.startswith("_") or not PROMISES.search(doc):
            continue
        opens = any(_is_atomic(d) for d in node.decorator_list) or any(
            isinstance(n, ast.With) and any(_is_atomic(i.context_expr) for i in n.items) for n in ast.walk(node)
        )
        if not opens:
            offenders.append(key)
    assert not offenders, f"promise one transaction but open none: {offenders}"


def test_the_static_check_finds_a_lock_outside_a_transaction() -> None:
    # The check itself can fail: the code before the fix is an offender.
    source = inspect.getsource(privacy.anonymise_resident).replace("@transaction.atomic\n", "", 1)
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef)
    assert not any(_is_atomic(d) for d in node.decorator_list)
    assert "select_for_update" in _calls_outside_atomic(node)


def test_every_service_module_is_seen() -> None:
    modules = {info.name for info in pkgutil.iter_modules([str(SERVICES)])}
    for name in modules:
        importlib.import_module(f"fieldteam.services.{name}")
    assert {"privacy", "consent", "people", "adoption"} <= modules


# --- as a request runs them: no transaction around the test -------------------------------------


def _anonymised(resident: Resident) -> bool:
    return Resident.objects.get(pk=resident.pk).full_name != resident.full_name


def _resident(world, place: str = "V1") -> Resident:
    return Resident.objects.get(pk=world.places[place].resident.pk)


@pytest.mark.django_db(transaction=True)
def test_erasure_services_run_outside_any_transaction(world) -> None:
    assert not connection.in_atomic_block
    officer = world.users["commune_officer"]
    resident = _resident(world)
    assert privacy.erase_identifiers(actor=officer, resident=resident, reason="erasure_request")
    assert withdraw_consent(actor=officer, resident=_resident(world, "V2")) >= 0
    person_data.export_person_data(actor=officer, resident=_resident(world, "V2"))
    privacy.anonymise_resident(actor=officer, resident=_resident(world, "V2"), reason="the person asked")
    privacy.purge_expired(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=3650))
    assert _anonymised(world.places["V2"].resident)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("commune_officer", 200),
        ("province_officer", 200),
        ("superuser", 200),
        ("member", 403),
        ("leader", 403),
        ("viewer", 403),
    ],
)
def test_the_anonymise_endpoint_as_a_request_runs_it(world, client_for, role, status) -> None:
    resident = world.places["V1"].resident
    response = client_for(world.users[role]).post(
        f"/api/v1/residents/{resident.pk}/anonymise/", {"reason": "the person asked"}, format="json"
    )
    assert response.status_code == status, response.content
    assert _anonymised(resident) == (status == 200)
    events = AuditEntry.objects.filter(object_pk=str(resident.pk), additional_data__event="anonymised")
    assert events.exists() == (status == 200)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("role", "anonymised"), [("commune_officer", True), ("superuser", True), ("viewer", False)])
def test_the_admin_action_as_a_request_runs_it(world, client, role, anonymised) -> None:
    resident = world.places["V1"].resident
    client.force_login(world.users[role])
    response = client.post(
        reverse("admin:fieldteam_resident_changelist"),
        {"action": "anonymise_selected", "_selected_action": [resident.pk], "confirm": "yes", "reason": "asked"},
    )
    assert response.status_code in (200, 302), response.status_code
    assert _anonymised(resident) == anonymised


def test_the_run_time_tests_run_with_no_transaction_around_them() -> None:
    # The fault only shows with no transaction around the call, as in a request.
    run_time = [
        f for n, f in globals().items() if n.startswith("test_") and ("as_a_request" in n or "outside_any" in n)
    ]
    assert len(run_time) == 3
    for function in run_time:
        marks = [m for m in getattr(function, "pytestmark", []) if m.name == "django_db"]
        assert marks and marks[0].kwargs.get("transaction") is True, function.__name__
