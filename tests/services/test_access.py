"""Access before action: every service refuses a viewer and an actor out of scope itself (issue 14, item 3).

Each write service is called directly, not through a view that might check first: a viewer of the
province is refused with ``read_only`` (the API's 403), a worker of another province with
``out_of_scope``; nothing is written and nothing is recorded. The same call by a commune officer
of the place succeeds, so the refusal is the role's, not the input's. On both databases; the
first three (which once checked visibility only) also as a request runs them, outside the test's
own transaction.
"""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

import fieldteam.services
from fieldteam.choices import AdoptionSource, AreaKind, AreaRoleKind, ConsentChannel, ResidentStatus, Sex
from fieldteam.models import (
    Adoption,
    Area,
    AreaRole,
    AuditEntry,
    ConsentRecord,
    Household,
    IndicatorValue,
    Membership,
    Resident,
    Team,
    User,
)
from fieldteam.periods import Period
from fieldteam.services import adoption, areas, consent, duplicates, people, privacy, teams
from fieldteam.services.consent import ConsentInput
from fieldteam.services.indicators import report_indicator_value
from tests.api.conftest import World, capabilities, world
from tests.clock import yesterday

__all__ = ["capabilities", "world"]  # fixtures of the API's world



def _paper_consent() -> ConsentInput:
    return ConsentInput(channel=ConsentChannel.PAPER, given_at=timezone.now() - dt.timedelta(days=1))


# Each: (name, prepare(world) -> call(actor)); the call writes in V1, which the viewer sees and the
# outsider does not. ``prepare`` makes what the call needs beforehand (by the system), outside the
# state a refusal must leave as it was.
CALLS: list[tuple[str, Callable[[World], Callable[..., Any]]]] = [
    (
        "register_household",
        lambda w: lambda a: people.register_household(actor=a, village=w.places["V1"].village, code="H-9"),
    ),
    (
        "register_resident",
        lambda w: (
            lambda a: people.register_resident(
                actor=a, household=w.places["V1"].household, full_name="Nguyễn Thị Mới", sex=Sex.FEMALE, birth_year=1990
            )
        ),
    ),
    (
        "update_resident",
        lambda w: lambda a: people.update_resident(actor=a, resident=w.places["V1"].resident, full_name="Tên Đã Sửa"),
    ),
    (
        "move_resident",
        lambda w: partial(
            people.move_resident,
            resident=w.places["V1"].resident,
            household=people.register_household(actor=None, village=w.places["V1"].village, code="H-NEW"),
        ),
    ),
    (
        "record_departure",
        lambda w: (
            lambda a: people.record_departure(
                actor=a, resident=w.places["V1"].resident, status=ResidentStatus.MOVED_OUT, on=yesterday()
            )
        ),
    ),
    ("split_household", lambda w: lambda a: people.split_household(actor=a, residents=[w.places["V1"].resident])),
    (
        "set_adoption",
        lambda w: (
            lambda a: adoption.set_adoption(
                actor=a,
                capability=w.skills,
                since=yesterday(),
                source=AdoptionSource.MANUAL,
                resident=w.places["V1"].resident,
            )
        ),
    ),
    (
        "clear_adoption",
        lambda w: (
            lambda a: adoption.clear_adoption(
                actor=a, capability=w.smartphone, on=timezone.localdate(), resident=w.places["V1"].resident
            )
        ),
    ),
    (
        "record_consent",
        lambda w: lambda a: consent.record_consent(actor=a, resident=w.places["V1"].resident, consent=_paper_consent()),
    ),
    ("withdraw_consent", lambda w: lambda a: consent.withdraw_consent(actor=a, resident=w.places["V1"].resident)),
    (
        "erase_identifiers",
        lambda w: (
            lambda a: privacy.erase_identifiers(actor=a, resident=w.places["V1"].resident, reason="erasure_request")
        ),
    ),
    (
        "merge_residents",
        lambda w: partial(
            duplicates.merge_residents,
            keep=w.places["V1"].resident,
            duplicate=people.register_resident(
                actor=None, household=w.places["V1"].household, full_name="Bản Sao", sex=Sex.FEMALE, birth_year=1980
            ),
        ),
    ),
    (
        "report_indicator_value",
        lambda w: (
            lambda a: report_indicator_value(
                actor=a,
                indicator=w.grdp,
                area=w.places["V1"].village,
                period=Period("year", dt.date(timezone.localdate().year - 1, 1, 1)),
                value=Decimal("40"),
            )
        ),
    ),
]
# Teams, areas and households, as admin and the imports save them (issue 14 item 7).
CALLS += [
    (
        "update_household",
        lambda w: lambda a: people.update_household(actor=a, household=w.places["V1"].household, address="Xóm 2"),
    ),
    (
        "create_village",
        lambda w: (
            lambda a: areas.create_village(
                actor=a, commune=w.tree.commune, code="V-NEW", name="Thôn Mới", kind=AreaKind.THON
            )
        ),
    ),
    (
        "update_area",
        lambda w: lambda a: areas.update_area(actor=a, area=w.places["V1"].village, name="Thôn Đổi Tên"),
    ),
    (
        "create_team",
        lambda w: (
            lambda a: teams.create_team(actor=a, name="Tổ mới", areas=[w.places["V1"].village], founded_on=yesterday())
        ),
    ),
    (
        "update_team",
        lambda w: lambda a: teams.update_team(actor=a, team=w.places["V1"].team, name="Tổ đổi tên"),
    ),
    (
        "add_membership",
        lambda w: (
            lambda a: teams.add_membership(
                actor=a, team=w.places["V1"].team, user=w.places["V3"].worker, started_on=yesterday()
            )
        ),
    ),
    (
        "create_member_user",
        lambda w: lambda a: teams.create_member_user(actor=a, team=w.places["V1"].team, username="thanhvien.moi"),
    ),
    (
        "grant_area_role",
        lambda w: (
            lambda a: teams.grant_area_role(
                actor=a, user=w.places["V1"].worker, area=w.places["V1"].village, role=AreaRoleKind.VIEWER
            )
        ),
    ),
]
IDS = [name for name, _call in CALLS]


def _state() -> tuple:
    """What a refused call must leave as it was."""
    return (
        list(Household.objects.order_by("pk").values_list("pk", "code", "is_active")),
        list(
            Resident.objects.order_by("pk").values_list("pk", "full_name", "status", "household_id", "citizen_id_hash")
        ),
        list(Adoption.objects.order_by("pk").values_list("pk", "ended_on")),
        list(ConsentRecord.objects.order_by("pk").values_list("pk", "withdrawn_at")),
        list(IndicatorValue.objects.order_by("pk").values_list("pk", "value")),
        list(Area.objects.order_by("pk").values_list("pk", "code", "name", "path")),
        list(Team.objects.order_by("pk").values_list("pk", "name")),
        list(Membership.objects.order_by("pk").values_list("pk", "team_id", "user_id", "ended_on")),
        list(AreaRole.objects.order_by("pk").values_list("pk", "user_id", "area_id", "role")),
        list(User.objects.order_by("pk").values_list("pk", "username")),
        AuditEntry.objects.count(),
    )


def _call(call: Callable[..., Any], actor: User) -> Any:
    return call(actor=actor) if isinstance(call, partial) else call(actor)


def _refused(world: World, role: str, prepare: Callable[[World], Callable[..., Any]]) -> ValidationError:
    call = prepare(world)
    before = _state()
    with pytest.raises(ValidationError) as refused:
        _call(call, world.users[role])
    assert _state() == before
    return refused.value


@pytest.mark.django_db
@pytest.mark.parametrize("call", [call for _name, call in CALLS], ids=IDS)
def test_a_viewer_is_refused_by_the_service_itself(world, call) -> None:
    error = _refused(world, "viewer", call)
    assert {code for codes in _codes(error).values() for code in codes} == {"read_only"}


@pytest.mark.django_db
@pytest.mark.parametrize("call", [call for _name, call in CALLS], ids=IDS)
def test_an_actor_out_of_scope_is_refused_by_the_service_itself(world, call) -> None:
    error = _refused(world, "outsider", call)
    assert {code for codes in _codes(error).values() for code in codes} == {"out_of_scope"}


# Province-level figures: reported by an officer of the province (the commune officer is refused).
PROVINCE_LEVEL = {"report_indicator_value"}


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "call"), CALLS, ids=IDS)
def test_an_officer_of_the_place_may(world, name, call) -> None:
    _call(call(world), world.users["province_officer" if name in PROVINCE_LEVEL else "commune_officer"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "call"), [(n, c) for n, c in CALLS if n in PROVINCE_LEVEL], ids=sorted(PROVINCE_LEVEL)
)
def test_a_commune_officer_is_refused_a_province_level_figure(world, name, call) -> None:
    error = _refused(world, "commune_officer", call)
    assert {code for codes in _codes(error).values() for code in codes} == {"read_only"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("call", [call for _name, call in CALLS[:3]], ids=IDS[:3])
@pytest.mark.parametrize("role", ["viewer", "outsider"])
def test_refused_as_a_request_runs_it(world, call, role) -> None:
    """Outside any transaction of the test's: the service's own transaction holds the refusal."""
    _refused(world, role, call)


def _codes(error: ValidationError) -> dict[str, list[str]]:
    return {field: [e.code for e in errors] for field, errors in error.error_dict.items()}


# --- every writer checks first: a static walk of fieldteam/services/ ---------------------------

SERVICES = Path(fieldteam.services.__file__).parent
# The other writers on someone's behalf: the imports (a package) and the exports, above the services;
# the roll-up (a package), below them.
WRITERS = (SERVICES, SERVICES.parent / "imports", SERVICES.parent / "exports.py", SERVICES.parent / "rollup")
# The checks of fieldteam.permissions; the team and province forms take one of the first three as ``check``.
CHECKS = {
    "ensure_can_see",
    "ensure_can_write",
    "ensure_officer",
    "ensure_superuser",
    "ensure_for_team",
    "ensure_province_officer",
    "ensure_area_staff",
    "ensure_own",
}
# Writers that call none of the checks, each with the reason. Keep it short: a new entry needs one.
UNCHECKED: dict[str, str] = {
    "areas.load_admin_units": "system only: the official units, from a command",
    "areas.create_capability": "reference data: superusers only, through admin",
    "rollup.masks.repair_capability_masks": "system only: a task repairing a derived column",
    "rollup.recompute.recompute_province": "system only: the roll-up task",
    "rollup.recompute.close_month": "system only: the roll-up task",
    "rollup.recompute.rebuild_commune_counts": "system only: areas.move_area calls it after its own check",
    "reports.report_job_create": "a read (a report of an area in scope, checked by its selectors) run as a job",
    "exports.export_job_start": "a read run as a job: an area above the scope exports the actor's part of it",
    "exports.export_rows": "a read: every row through the actor's scope",
    "exports.export_file": "a read: every row through the actor's scope",
    "jobs.open_job_file": "a read: jobs.may_download (officers of the job's area) decides",
    "imports.jobs.import_job_start": "each row is checked by the import kinds (ImportKind.may_write) when it runs",
    "imports.jobs.import_job_confirm": "each row is checked by the import kinds (ImportKind.may_write) when it runs",
    "imports.engine.import_file": "each row is checked by the import kinds (ImportKind.may_write)",
    "imports.kinds.people_bulk.households_import_bulk": "its parts come checked by the households import (ImportKind.may_write)",
    "people.citizen_id_holders": "a read: the answer does not depend on residents out of scope",
    "assistance.create_log": "runs in its caller's transaction after check_team_work",
    "consent.create_consent": "runs in its caller's transaction after the caller's check",
    "consent.consent_record": "builds an unsaved record for a caller that checked",
    "rollup.fastlog.log_assistance": "the member rule is in its one statement (permissions.member_may_work_sql)",
}


def _functions() -> dict[str, ast.FunctionDef]:
    found: dict[str, ast.FunctionDef] = {}
    for root in WRITERS:
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            # Named as before the imports and exports left the services: ``exports.…``, ``imports.jobs.…``.
            base = SERVICES if root == SERVICES else root.parent
            module = ".".join(path.relative_to(base).with_suffix("").parts)
            found.update(_module_functions(path, module))
    return found


def _module_functions(path: Path, module: str) -> dict[str, ast.FunctionDef]:
    return {
        f"{module}.{node.name}": node for node in ast.parse(path.read_text()).body if isinstance(node, ast.FunctionDef)
    }


def _called(function: ast.FunctionDef) -> set[str]:
    return {ast.unparse(n.func).rsplit(".", 1)[-1] for n in ast.walk(function) if isinstance(n, ast.Call)}


def _is_writer(function: ast.FunctionDef) -> bool:
    """Opens a transaction, or takes the acting user (every write on someone's behalf does)."""
    takes = {a.arg for a in [*function.args.args, *function.args.kwonlyargs]}
    return "transaction.atomic" in ast.unparse(function) or "actor" in takes


def _reaches_a_check(name: str, functions: dict[str, ast.FunctionDef]) -> bool:
    """Whether ``name`` calls a check, itself or through the services it calls (matched by name)."""
    by_name: dict[str, list[str]] = {}
    for qualified, node in functions.items():
        by_name.setdefault(node.name, []).append(qualified)
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        called = _called(functions[current])
        if called & CHECKS:
            return True
        for callee in called:
            todo.extend(by_name.get(callee, []))
    return False


def test_every_public_writer_checks_who_may_first() -> None:
    functions = _functions()
    writers = {name for name, node in functions.items() if not node.name.startswith("_") and _is_writer(node)}
    assert "people.register_resident" in writers  # the walk finds the services at all
    unchecked = {name for name in writers if not _reaches_a_check(name, functions)}
    assert unchecked - set(UNCHECKED) == set(), "call an ensure_* check of fieldteam.permissions first"
    assert set(UNCHECKED) - unchecked == set(), "no longer unchecked (or gone): drop it from UNCHECKED"


def test_the_static_check_finds_a_writer_without_a_check() -> None:
    source = """
@transaction.atomic
def rename_household(*, actor, household, name):
    household.name = name
    household.save()
"""
    (node,) = ast.parse(source).body
    assert _is_writer(node)
    assert not _reaches_a_check("x.rename_household", {"x.rename_household": node})
