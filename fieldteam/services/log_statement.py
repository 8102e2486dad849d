"""An assistance log written in one PostgreSQL statement: the hot path of field work.

Logging help is what every member does all day, online and in offline batches of hundreds. The
ORM path (``sync._apply_assistance_log`` → ``assistance.log_assistance_within``) sends about a
dozen statements per log; here the same rows are written by one data-modifying statement,
prepared once per connection and run in autocommit (a statement is its own transaction): the
subject read under its row lock, the log, its items, the adoptions of the items done (an earlier
``since`` moved back), the subject's capability mask, the village counts, the trail's entries and
the sync receipt.

It only ever takes the way that succeeds. Whatever it cannot settle alone is left to the ORM
path, which gives the user the error naming the field (or finds the resend): input the checks
refuse, a subject not found, out of scope, gone or outside the team's villages (the statement
then writes nothing and says so), counting rules this process has not seen yet or that changed,
a recompute holding the province's counts (the writers' lock is only tried), a client id already
taken. ``tests/services/test_log_statement.py`` holds the two paths to the same rows, counts and
trail entries. ``LOG_IN_ONE_STATEMENT=false`` in the environment turns it off.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from fieldteam import audit, locks
from fieldteam.audit import HIDDEN
from fieldteam.choices import AdoptionSource, AssistanceOutcome, ResidentStatus, Sex
from fieldteam.models import Adoption, Area, AssistanceItem, AssistanceLog, AuditEntry, Capability, Team, User
from fieldteam.services import counting
from fieldteam.services.assistance import ItemInput

RESIDENT = "resident"
HOUSEHOLD = "household"
# The place check looks this many levels up from the village (province, district, commune,
# village and four more): deeper trees would need a larger number here.
MAX_AREA_DEPTH = 8


# How long a process uses the capability catalogue it read (the statement re-checks every capability).
CATALOGUE_SECONDS = 60.0
_catalogue: tuple[float, dict[str, Capability]] | None = None


def capability_catalogue() -> dict[str, Capability]:
    """The capability catalogue by code, read at most once a ``CATALOGUE_SECONDS`` per process.

    A capability changed since (renamed, retired, its subject) fails the statement's check, and the
    item goes the ORM way, which reads the catalogue afresh.
    """
    global _catalogue
    now = time.monotonic()
    if _catalogue is None or now - _catalogue[0] > CATALOGUE_SECONDS:
        _catalogue = (now, {capability.code: capability for capability in Capability.objects.all()})
    return _catalogue[1]


def enabled() -> bool:
    """Whether logs take the one-statement path: on PostgreSQL, unless turned off in the settings."""
    return connection.vendor == "postgresql" and settings.FIELDTEAM_LOG_IN_ONE_STATEMENT


@dataclass(frozen=True)
class LogRequest:
    """A log as read and checked from an item (``sync``), the subject still to be found."""

    team: Team  # only its id is used: the statement checks the rest
    subject_kind: str  # RESIDENT or HOUSEHOLD
    subject_id: int
    occurred_at: datetime
    channel: str
    note: str
    items: list[ItemInput]


def _subject_sql(kind: str) -> str:
    """The subject, locked, if it is live and lies in the villages of a team the actor is an open member of.

    That is the scoping rule (``fieldteam.selectors.scope``) for a member, who sees and may write in
    their teams' areas, with the team checks of ``assistance.check_team_work`` (active, founded by
    the day of the work). It grants nothing the rule does not: anyone else (an officer logging for
    a team, a superuser) gets no row here, and the ORM path applies the rule in full. A change to
    who may log for a team must be made here as well as in ``scope.py``.

    Also tries (never waits for) the writers' lock of the province's counts and checks the counting
    rules in hand are the province's: otherwise no row, nothing written, and the ORM path takes over.
    """
    if kind == RESIDENT:
        table, live, facts = "fieldteam_resident", f"s.status = '{ResidentStatus.ACTIVE}'", "s.birth_month_index, s.sex"
    else:
        table, live, facts = "fieldteam_household", "s.is_active", "0 AS birth_month_index, '' AS sex"
    rules_state = counting.RULES_STATE_CHECK_SQL.replace("{province}", "s.province_id")
    # The village's path and those of its ancestors (treebeard's paths grow by ``steplen``): "lies
    # under one of these areas" becomes an overlap of two arrays.
    prefixes = ", ".join(f"left(v.path, {Area.steplen * depth})" for depth in range(1, MAX_AREA_DEPTH + 1))
    # Table and column names from this module, values only as parameters.
    return f"""
    subject AS (
        SELECT s.id, s.province_id, s.village_id, s.capability_mask, {facts}
        FROM {table} s JOIN fieldteam_area v ON v.id = s.village_id
             CROSS JOIN LATERAL (SELECT ARRAY[{prefixes}]) AS village(prefixes)
        WHERE s.id = %(subject)s::bigint AND {live}
          AND EXISTS (
              SELECT FROM fieldteam_membership m
              JOIN fieldteam_team t ON t.id = m.team_id
              JOIN fieldteam_team_areas served ON served.team_id = t.id
              JOIN fieldteam_area a ON a.id = served.area_id
              WHERE m.user_id = %(member)s::bigint AND m.team_id = %(team)s::bigint AND m.ended_on IS NULL
                AND t.is_active AND t.founded_on <= %(work_date)s::date AND a.path = ANY(village.prefixes))
          AND (SELECT string_agg(concat_ws(':', c.id, c.code, c.subject, c.is_active, c.bit), ',' ORDER BY c.id)
               FROM fieldteam_capability c WHERE c.id = ANY(%(item_capabilities)s::bigint[])) = %(capabilities_seen)s::text
          AND pg_try_advisory_xact_lock_shared({locks.ADVISORY_NAMESPACE_COUNTS}, s.province_id::integer)
          AND {rules_state}
        FOR UPDATE OF s
    )"""  # noqa: S608


def _statement(kind: str) -> str:
    subject_column = "resident_id" if kind == RESIDENT else "household_id"
    other_column = "household_id" if kind == RESIDENT else "resident_id"
    table = "fieldteam_resident" if kind == RESIDENT else "fieldteam_household"
    # The trail's entries of items and adoptions, as django-auditlog's diff of a new row writes them.
    new = "jsonb_build_array(NULL, {})".format
    return f"""
    WITH {_subject_sql(kind)},
    log AS (
        INSERT INTO fieldteam_assistancelog (id, occurred_at, recorded_at, channel, note, content_hash, member_id,
                                             province_id, village_id, {subject_column}, {other_column}, team_id,
                                             training_session_id)
        SELECT %(log)s::uuid, %(occurred_at)s::timestamptz, %(now)s::timestamptz, %(channel)s::text, %(note)s::text, %(hash)s::text, %(member)s::bigint,
               s.province_id, s.village_id, s.id, NULL, %(team)s::bigint, NULL
        FROM subject s
        RETURNING id, province_id, village_id
    ),
    item AS (
        INSERT INTO fieldteam_assistanceitem (outcome, reason, province_id, log_id, capability_id)
        SELECT i.outcome, i.reason, log.province_id, log.id, i.capability
        FROM log, unnest(%(item_capabilities)s::bigint[], %(item_outcomes)s::text[], %(item_reasons)s::text[])
             WITH ORDINALITY AS i(capability, outcome, reason, position)
        ORDER BY i.position
        RETURNING id, capability_id, outcome, reason
    ),
    wanted AS (
        SELECT w.capability, w.bit FROM unnest(%(done_capabilities)s::bigint[], %(done_bits)s::bigint[]) AS w(capability, bit)
    ),
    adopted AS (
        INSERT INTO fieldteam_adoption (since, ended_on, source, recorded_at, recorded_by_id, province_id,
                                        assistance_log_id, capability_id, {subject_column}, {other_column})
        SELECT %(since)s::date, NULL, %(source)s::text, %(now)s::timestamptz, %(member)s::bigint, s.province_id, log.id, w.capability, s.id, NULL
        FROM subject s, log, wanted w
        WHERE s.capability_mask & w.bit = 0
        ORDER BY w.capability
        ON CONFLICT ({subject_column}, capability_id) WHERE ended_on IS NULL AND {subject_column} IS NOT NULL DO NOTHING
        RETURNING id, capability_id
    ),
    moved_back AS (
        UPDATE fieldteam_adoption a SET since = %(since)s::date
        FROM subject s, wanted w, log
        WHERE s.capability_mask & w.bit <> 0 AND a.{subject_column} = s.id AND a.capability_id = w.capability
          AND a.ended_on IS NULL AND a.since > %(since)s::date
        RETURNING a.id
    ),
    gained AS (
        SELECT coalesce(bit_or(w.bit), 0) AS bits FROM adopted a JOIN wanted w ON w.capability = a.capability_id
    ),
    mask AS (
        UPDATE {table} t SET capability_mask = t.capability_mask | g.bits
        FROM subject s, gained g WHERE t.id = s.id AND g.bits <> 0
        RETURNING t.id
    ),
    counted AS (
        INSERT INTO fieldteam_villagecount (province_id, village_id, indicator_id, numerator, denominator)
        SELECT s.province_id, s.village_id, r.indicator, 1, 0
        FROM subject s, gained g,
             jsonb_to_recordset(%(rules)s::jsonb) AS r(indicator bigint, bit bigint, high integer, low_male integer,
                                                         low_female integer)
        WHERE g.bits & r.bit <> 0
          AND s.birth_month_index <= r.high
          AND (CASE s.sex WHEN '{Sex.MALE}' THEN r.low_male WHEN '{Sex.FEMALE}' THEN r.low_female END IS NULL
               OR s.birth_month_index > CASE s.sex WHEN '{Sex.MALE}' THEN r.low_male ELSE r.low_female END)
        ORDER BY r.indicator
        ON CONFLICT (village_id, indicator_id) DO UPDATE SET
            numerator = fieldteam_villagecount.numerator + excluded.numerator,
            denominator = fieldteam_villagecount.denominator + excluded.denominator
        RETURNING 1
    ),
    receipt AS (
        INSERT INTO fieldteam_syncreceipt (client_id, kind, content_hash, object_id, received_at, member_id, province_id)
        SELECT log.id, %(receipt_kind)s::text, %(hash)s::text, log.id::text, %(now)s::timestamptz, %(member)s::bigint, log.province_id FROM log
        RETURNING 1
    ),
    entry (content_type_id, object_pk, object_id, object_repr, action, changes) AS (
        SELECT %(log_type)s::integer, log.id::text, NULL::bigint, %(log_repr)s::text, {AuditEntry.Action.CREATE},
               %(log_changes)s::jsonb || jsonb_build_object('village', {new("log.village_id")},
                                                            'province', {new("log.province_id")})
        FROM log
        UNION ALL
        SELECT %(item_type)s::integer, i.id::text, i.id, %(item_repr)s::text || i.id, {AuditEntry.Action.CREATE},
               jsonb_build_object('id', {new("i.id")}, 'log', {new("log.id::text")}, 'reason', {new("i.reason")},
                                  'outcome', {new("i.outcome")}, 'province', {new("log.province_id")},
                                  'capability', {new("i.capability_id")})
        FROM item i, log
        UNION ALL
        SELECT %(adoption_type)s::integer, a.id::text, a.id, %(adoption_repr)s::text || a.id, {AuditEntry.Action.CREATE},
               jsonb_build_object('id', {new("a.id")}, 'since', {new("%(since_text)s::text")},
                                  'source', {new("%(source)s::text")}, 'province', {new("log.province_id")},
                                  '{"resident" if kind == RESIDENT else "household"}', {new("s.id")},
                                  'capability', {new("a.capability_id")}, 'recorded_at', {new("%(now_text)s::text")},
                                  'recorded_by', {new("%(member)s::bigint")}, 'assistance_log', {new("log.id::text")})
        FROM adopted a, log, subject s
        UNION ALL
        SELECT %(adoption_type)s::integer, m.id::text, m.id, %(adoption_repr)s::text || m.id, {AuditEntry.Action.UPDATE},
               jsonb_build_object('since', {new("%(since_text)s::text")})
        FROM moved_back m
    ),
    trail AS (
        INSERT INTO fieldteam_auditentry (content_type_id, object_pk, object_id, object_repr, action, changes,
                                          changes_text, actor_id, actor_email, remote_addr, remote_port, cid,
                                          timestamp, area_id, province_id)
        SELECT e.content_type_id, e.object_pk, e.object_id, e.object_repr, e.action, e.changes, '',
               %(actor)s::bigint, %(actor_email)s::text, %(remote_addr)s::inet, %(remote_port)s::integer, %(cid)s::text, %(now)s::timestamptz,
               log.village_id, log.province_id
        FROM entry e, log
        RETURNING 1
    )
    SELECT log.village_id, log.province_id, (SELECT count(*) FROM trail), (SELECT count(*) FROM receipt),
           (SELECT count(*) FROM mask), (SELECT count(*) FROM counted)
    FROM log
    """  # noqa: S608


@dataclass(frozen=True)
class _Prepared:
    """A statement prepared once per connection (``PREPARE``) and run by a short ``EXECUTE``.

    Written with named parameters, each with its type (``%(name)s::type``). psycopg would parse a
    statement this long again on every call (it caches only short ones) and PostgreSQL would
    plan it again: ``EXECUTE`` is short, and the plan is kept by the connection.
    """

    name: str
    prepare_sql: str
    execute_sql: str

    @classmethod
    def of(cls, name: str, sql: str) -> _Prepared:
        types: dict[str, str] = {}
        for match in _PARAMETER.finditer(sql):
            types.setdefault(match["name"], match["type"])
        numbers = {parameter: position for position, parameter in enumerate(types, start=1)}
        body = _PARAMETER.sub(lambda match: f"${numbers[match['name']]}::{match['type']}", sql)
        declared = ", ".join(types.values())
        arguments = ", ".join(f"%({parameter})s::{kind}" for parameter, kind in types.items())
        return cls(name, f"PREPARE {name} ({declared}) AS {body}", f"EXECUTE {name} ({arguments})")


# Every parameter carries its type: ``%(name)s::type`` (``[]`` for arrays).
_PARAMETER = re.compile(r"%\((?P<name>\w+)\)s::(?P<type>[a-z]+(?:\[\])?)")
_STATEMENTS = {kind: _Prepared.of(f"fieldteam_log_{kind}", _statement(kind)) for kind in (RESIDENT, HOUSEHOLD)}
# The statements each open connection has prepared (keyed by psycopg's connection object).
_prepared_on: weakref.WeakKeyDictionary[object, set[str]] = weakref.WeakKeyDictionary()


@functools.lru_cache(maxsize=16)
def _rules_json(rules: counting.CountingRules, subject_kind: str) -> str:
    """The counting rules of one kind of subject, as the statement reads them (a JSON array of records)."""
    if subject_kind == RESIDENT:
        records = [
            {
                "indicator": rule.indicator_id,
                "bit": rule.bit_mask,
                "high": rule.high_bmi,
                "low_male": rule.low_bmi.get(Sex.MALE),
                "low_female": rule.low_bmi.get(Sex.FEMALE),
            }
            for rule in rules.residents
        ]
    else:
        # Every live household is in the households' population: no bound on anything.
        records = [
            {"indicator": rule.indicator_id, "bit": rule.bit_mask, "high": 0, "low_male": None, "low_female": None}
            for rule in rules.households
        ]
    return json.dumps(records)


def _capabilities_seen(items: list[ItemInput]) -> str:
    """The capabilities of the items as this process read them, as the statement lists them from the table."""
    seen = {item.capability.pk: item.capability for item in items}
    return ",".join(
        f"{c.pk}:{c.code}:{c.subject}:{'t' if c.is_active else 'f'}:{c.bit}" for _pk, c in sorted(seen.items())
    )


def _naive_utc_text(moment: datetime) -> str:
    """A time as django-auditlog's diff writes it: naive UTC, ``str()``'s format."""
    return str(timezone.make_naive(moment, UTC))


def _log_changes(request: LogRequest, log_id: uuid.UUID, actor: User, digest: str) -> str:
    """The log's entry as django-auditlog's diff of the new row writes it (its village and province added in SQL)."""
    changes = {
        "id": [None, str(log_id)],
        "note": [HIDDEN, HIDDEN],
        "team": [None, request.team.pk],
        "items": [None, "fieldteam.AssistanceItem.None"],
        "member": [None, actor.pk],
        "channel": [None, request.channel],
        request.subject_kind: [None, request.subject_id],
        "adoptions": [None, "fieldteam.Adoption.None"],
        "occurred_at": [None, _naive_utc_text(request.occurred_at)],
        "content_hash": [None, digest],
    }
    return json.dumps(changes)


def log_assistance(
    *, actor: User, request: LogRequest, log_id: uuid.UUID, digest: str, receipt_kind: str
) -> AssistanceLog | None:
    """Write ``request`` as log ``log_id`` in one statement; ``None`` when the ORM path must take it.

    The caller has read and checked the input (the reader of ``sync``), what needs no row
    (``assistance.clean_log_content``, a time not in the future); the team, the actor's membership
    and the subject are checked by the statement itself, which writes nothing unless all holds. May raise ``IntegrityError`` (the id
    is taken: a resend), with nothing written.
    """
    latest = counting.latest_rules()
    if latest is None:
        return None
    rules_month, rules_version, rules = latest
    now = timezone.now()
    work_date = timezone.localdate(request.occurred_at)
    since = min(work_date, timezone.localdate(now))
    done = sorted(
        {
            item.capability.pk: item.capability for item in request.items if item.outcome == AssistanceOutcome.DONE
        }.items()
    )
    entry_actor, remote_addr, remote_port, cid = audit.entry_context()
    content_types = ContentType.objects.get_for_models(AssistanceLog, AssistanceItem, Adoption)
    params = {
        "subject": request.subject_id,
        "work_date": work_date,
        "rules_month": rules_month,
        "rules_version": rules_version,
        "log": log_id,
        "occurred_at": request.occurred_at,
        "now": now,
        "now_text": _naive_utc_text(now),
        "channel": request.channel,
        "note": request.note,
        "hash": digest,
        "member": actor.pk,
        "team": request.team.pk,
        "item_capabilities": [item.capability.pk for item in request.items],
        "capabilities_seen": _capabilities_seen(request.items),
        "item_outcomes": [item.outcome for item in request.items],
        "item_reasons": [item.reason for item in request.items],
        "done_capabilities": [pk for pk, _capability in done],
        "done_bits": [capability.mask for _pk, capability in done],
        "since": since,
        "since_text": str(since),
        "source": AdoptionSource.ASSISTANCE,
        "rules": _rules_json(rules, request.subject_kind),
        "receipt_kind": receipt_kind,
        "log_type": content_types[AssistanceLog].pk,
        "item_type": content_types[AssistanceItem].pk,
        "adoption_type": content_types[Adoption].pk,
        "log_repr": f"{AssistanceLog._meta.verbose_name} #{log_id}",  # as audit.describe names it
        "item_repr": f"{AssistanceItem._meta.verbose_name} #",
        "adoption_repr": f"{Adoption._meta.verbose_name} #",
        "log_changes": _log_changes(request, log_id, actor, digest),
        "actor": getattr(entry_actor, "pk", None),
        "actor_email": getattr(entry_actor, "email", None),
        "remote_addr": remote_addr,
        "remote_port": remote_port,
        "cid": cid,
    }
    row = _execute(_STATEMENTS[request.subject_kind], params)
    if row is None:
        # Perhaps only the rules in hand are out of date (a new month, a changed indicator): read
        # them again for the next log, whatever the reason was this time.
        counting.forget_latest_rules()
        return None
    village_id, province_id = row[0], row[1]
    log = AssistanceLog(
        id=log_id,
        province_id=province_id,
        team=request.team,
        member=actor,
        village_id=village_id,
        occurred_at=request.occurred_at,
        recorded_at=now,
        channel=request.channel,
        note=request.note,
        content_hash=digest,
        **{f"{request.subject_kind}_id": request.subject_id},
    )
    log._state.adding = False
    log._state.db = connection.alias
    items = [
        AssistanceItem(
            province_id=province_id, log=log, capability=item.capability, outcome=item.outcome, reason=item.reason
        )
        for item in request.items
    ]
    # What ``log.items.all()`` would read (the representation needs no item ids).
    cached = QuerySet(AssistanceItem)
    cached._result_cache = items  # type: ignore[attr-defined]
    cached._prefetch_done = True  # type: ignore[attr-defined]
    log._prefetched_objects_cache = {"items": cached}  # type: ignore[attr-defined]
    return log


def _execute(statement: _Prepared, params: dict[str, object]) -> tuple | None:
    """Run the statement, prepared on this connection first if need be, in autocommit or a savepoint.

    Autocommit (no transaction open): the statement is its own transaction, no BEGIN or COMMIT to
    send. Inside a caller's transaction, a savepoint keeps a failure (a taken id) from spoiling it.
    """
    connection.ensure_connection()
    raw = connection.connection
    prepared = _prepared_on.setdefault(raw, set())
    # Django's own errors (IntegrityError, OperationalError), as its cursors raise them.
    # Bound on the client: the short EXECUTE with its values written in (its template's parse is
    # cached by psycopg); the long statement itself was prepared once.
    with connection.wrap_database_errors, psycopg.ClientCursor(raw) as cursor:
        for attempt in range(2):
            if statement.name not in prepared:
                try:
                    with _guarded():
                        cursor.execute(statement.prepare_sql)
                except psycopg.errors.DuplicatePreparedStatement:
                    pass  # prepared by an earlier use of this session
                prepared.add(statement.name)
            try:
                with _guarded():
                    cursor.execute(statement.execute_sql, params)
                    return cursor.fetchone()
            except psycopg.errors.InvalidSqlStatementName:
                # The session forgot it (DISCARD ALL, a pooler): prepare it again, once.
                prepared.discard(statement.name)
                if attempt:
                    raise
    return None  # pragma: no cover


def _guarded() -> contextlib.AbstractContextManager:
    """A savepoint inside the caller's transaction (a failure must not spoil it); nothing in autocommit."""
    return transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
