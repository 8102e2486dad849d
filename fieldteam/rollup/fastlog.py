"""An assistance log written in one PostgreSQL statement: the hot path of field work.

Logging help is what every member does all day, online and in offline batches of hundreds. The
ORM path (``fieldteam.sync.items._apply_assistance_log`` → ``assistance.log_assistance``) sends about a
dozen statements per log; here the same rows are written by one data-modifying statement, kept
in the database as a PL/pgSQL function (``install_functions``, run by migration
``0013_log_statement_function``: its plan is cached by each session, and unlike a ``PREPARE`` it
survives a pooler in transaction mode) and called in autocommit (a call is its own transaction):
the subject read under its row lock, the log, its items, the adoptions of the items done (an
earlier ``since`` moved back), the subject's capability mask, the village counts, the trail's
entries and the sync receipt.

Nothing of the rules is restated here: who may log is ``permissions.member_may_work_sql`` (the member
rule's one SQL text), who is counted is ``rules.IN_POPULATION_SQL`` with the rules passed in as
records, and the trail's changes are ``audit.row_changes`` of the rows as built here, the
statement adding only what the database assigns (ids, the subject's village and province).

It only ever takes the way that succeeds. Whatever it cannot settle alone is left to the ORM
path, which gives the user the error naming the field (or finds the resend): input the checks
refuse, a subject not found, out of scope, gone or outside the team's villages (the statement
then writes nothing and says so), counting rules this process has not seen yet or that changed,
a recompute holding the province's counts (the writers' lock is only tried), a client id already
taken. ``tests/services/test_log_statement.py`` holds the two paths to the same rows, counts and
trail entries, and the logging tests of ``tests/api`` run with it on and off; ``USE`` counts which
way each log went, and on PostgreSQL every test that logs must take this way (``tests/conftest.py``).
``LOG_IN_ONE_STATEMENT=false`` in the environment turns it off.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

import psycopg
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.utils import timezone

from fieldteam import audit, locks
from fieldteam.choices import AdoptionSource, AssistanceOutcome, EthnicGroup, ResidentStatus, Sex
from fieldteam.models import Adoption, AssistanceItem, AssistanceLog, AuditEntry, Capability, Team, User
from fieldteam.permissions import member_may_work_sql
from fieldteam.rollup import rules, sqlfunctions
from fieldteam.rollup.sqlfunctions import SqlFunction

logger = logging.getLogger(__name__)

RESIDENT = "resident"
HOUSEHOLD = "household"


@dataclass
class Use:
    """Which way the logs of this process went, for tests and benches to read (``USE``)."""

    written: int = 0  # by the statement
    refused: int = 0  # the statement ran and wrote nothing: left to the ORM path
    by_orm: int = 0  # logs the ORM path wrote while the statement was on (``fieldteam.sync.envelope._receive``)
    missing: int = 0  # calls that found this code's function not installed (migrations not run)
    reasons: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.written = self.refused = self.by_orm = self.missing = 0
        self.reasons.clear()

    def written_by_orm(self, reason: str) -> None:
        self.by_orm += 1
        self.reasons.append(reason)


USE = Use()


# How long a process uses the capability catalogue it read (the statement re-checks every capability).
CATALOGUE_SECONDS = 60.0
# Keyed on the database (``rules._database``): another database is never served these rows.
_catalogue: dict[tuple[str, str], tuple[float, dict[str, Capability]]] = {}


def capability_catalogue() -> dict[str, Capability]:
    """The capability catalogue by code, read at most once a ``CATALOGUE_SECONDS`` per process and database.

    A capability changed since (renamed, retired, its subject) fails the statement's check, and the
    item goes the ORM way, which reads the catalogue afresh.
    """
    key = rules._database()
    now = time.monotonic()
    held = _catalogue.get(key)
    if held is None or now - held[0] > CATALOGUE_SECONDS:
        held = _catalogue[key] = (now, {capability.code: capability for capability in Capability.objects.all()})
    return held[1]


# Team id -> its province (which never changes), per database: whose counting rules a log takes.
_team_province: dict[tuple[tuple[str, str], int], int] = {}


def _province_of(team: Team) -> int | None:
    """The team's province: the rules differ by province (its own population bounds). Read once per team.

    ``None`` for a team that does not exist: the ORM path then names the field.
    """
    if team.province_id is not None:
        return team.province_id
    key = (rules._database(), team.pk)
    if key not in _team_province:
        province_id = Team.objects.filter(pk=team.pk).values_list("province_id", flat=True).first()
        if province_id is None:
            return None
        _team_province[key] = province_id
    return _team_province[key]


def clear_caches() -> None:
    """Forget what this process holds of any database (tests, between databases)."""
    _catalogue.clear()
    _team_province.clear()
    _rules_json.cache_clear()
    _member_rules_json.cache_clear()
    _moved_back_changes.cache_clear()


def enabled() -> bool:
    """Whether logs take the one-statement path: on PostgreSQL, unless turned off in the settings."""
    return connection.vendor == "postgresql" and settings.FIELDTEAM_LOG_IN_ONE_STATEMENT


class LogItem(Protocol):
    """One item of a log, as the statement reads it (``services.assistance.ItemInput`` is one).

    Said by shape, not by import: the roll-up sits below the services.
    """

    # Read-only: the services' item is a frozen dataclass.
    @property
    def capability(self) -> Capability: ...
    @property
    def outcome(self) -> str: ...
    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class LogRequest:
    """A log as read and checked from an item (``sync``), the subject still to be found."""

    team: Team  # only its id is used: the statement checks the rest
    subject_kind: str  # RESIDENT or HOUSEHOLD
    subject_id: int
    occurred_at: datetime
    channel: str
    note: str
    items: Sequence[LogItem]


def _subject_sql(kind: str) -> str:
    """The subject, locked, if it is live and lies in the villages of a team the actor is an open member of.

    That is the scoping rule (``fieldteam.permissions``) for a member, who sees and may write in
    their teams' areas, with the team checks of ``assistance.check_team_work`` (active, founded by
    the day of the work), both as ``member_may_work_sql`` writes them. It grants nothing the rule
    does not: anyone else (an officer logging for a team, a superuser) gets no row here, and the ORM
    path applies the rule in full.

    Also tries (never waits for) the writers' lock of the province's counts and checks the counting
    rules in hand are the province's: otherwise no row, nothing written, and the ORM path takes over.
    """
    if kind == RESIDENT:
        table, live = "fieldteam_resident", f"s.status = '{ResidentStatus.ACTIVE}'"
        facts = "s.birth_month_index, s.sex, s.ethnic_group, s.household_id, 0::bigint AS derived_mask"
    else:
        table, live = "fieldteam_household", "s.is_active"
        facts = (
            f"0 AS birth_month_index, ''::text AS sex, '{EthnicGroup.UNKNOWN}'::text AS ethnic_group, "
            "NULL::bigint AS household_id, s.derived_mask"
        )
    rules_state = rules.RULES_STATE_CHECK_SQL.replace("{province}", "s.province_id")
    may_work = member_may_work_sql(
        member="%(member)s::bigint", team="%(team)s::bigint", village_path="v.path", work_date="%(work_date)s::date"
    )
    # Table and column names from this module, values only as parameters.
    return f"""
    subject AS (
        SELECT s.id, s.province_id, s.village_id, s.capability_mask, {facts}
        FROM {table} s JOIN fieldteam_area v ON v.id = s.village_id
        WHERE s.id = %(subject)s::bigint AND {live}
          AND {may_work}
          AND (SELECT string_agg(concat_ws(':', c.id, c.code, c.subject, c.is_active, c.bit), ',' ORDER BY c.id)
               FROM fieldteam_capability c WHERE c.id = ANY(%(item_capabilities)s::bigint[])) = %(capabilities_seen)s::text
          AND pg_try_advisory_xact_lock_shared({locks.ADVISORY_NAMESPACE_COUNTS}, s.province_id::integer)
          AND {rules_state}
        FOR UPDATE OF s
    )"""  # noqa: S608


def _household_gain_sql() -> str:
    """A resident's gain given to their household: what it now holds through them (``derivations``).

    The household row locked (after the resident's, as every writer does), its ``derived_mask``
    widened by the "any member" rules the resident's new holdings meet, and the household counts
    moved for what it did not hold before. Only ever adds: no other member needs reading.
    """
    return """
    member_gain AS (
        SELECT coalesce(bit_or(m.target), 0) AS bits
        FROM subject s, gained g, jsonb_to_recordset(%(member_rules)s::jsonb) AS m(target bigint, source bigint)
        WHERE g.bits <> 0 AND (s.capability_mask | g.bits) & m.source <> 0
    ),
    household AS (
        SELECT h.id, h.village_id, h.province_id, h.is_active, h.capability_mask | h.derived_mask AS held, mg.bits
        FROM fieldteam_household h, subject s, member_gain mg
        WHERE h.id = s.household_id AND mg.bits <> 0 AND h.derived_mask & mg.bits <> mg.bits
        FOR UPDATE OF h
    ),
    household_mask AS (
        UPDATE fieldteam_household t SET derived_mask = t.derived_mask | hh.bits
        FROM household hh WHERE t.id = hh.id
        RETURNING t.id
    ),
    household_delta AS (
        SELECT hh.province_id, hh.village_id, r.indicator AS indicator_id, 1 AS numerator
        FROM household hh, jsonb_to_recordset(%(household_rules)s::jsonb) AS r(indicator bigint, bit bigint)
        WHERE hh.is_active AND hh.bits & r.bit <> 0 AND hh.held & r.bit = 0
    ),
    household_counted AS (
        INSERT INTO fieldteam_villagecount (province_id, village_id, indicator_id, numerator, denominator)
        SELECT d.province_id, d.village_id, d.indicator_id, d.numerator, 0 FROM household_delta d
        ORDER BY d.indicator_id
        ON CONFLICT (village_id, indicator_id) DO UPDATE SET
            numerator = fieldteam_villagecount.numerator + excluded.numerator
        RETURNING village_id, indicator_id
    ),"""


def _commune_counts_sql(kind: str) -> str:
    """The communes' rows moved by the village rows this log wrote (``rules.commune_upsert_sql``).

    One upsert for the subject's counts and its household's (their indicators differ), fed by the
    village upserts' ``RETURNING``: every village row is written before any commune row, in the
    order of the ORM path's ``rules.apply_deltas``.
    """
    columns = ["numerator", "women_numerator", "minority_numerator", "kinh_numerator"]
    written = "SELECT d.province_id, d.village_id, d.indicator_id, {} FROM {} d JOIN {} USING (village_id, indicator_id)"
    parts = [written.format(", ".join(f"d.{column}" for column in columns), "counted_delta", "counted")]
    if kind == RESIDENT:
        padding = ", ".join(["d.numerator", *(["0"] * (len(columns) - 1))])
        parts.append(written.format(padding, "household_delta", "household_counted"))
    return rules.commune_upsert_sql(f"({' UNION ALL '.join(parts)}) d", columns)


def _statement(kind: str) -> str:
    subject_column = "resident_id" if kind == RESIDENT else "household_id"
    other_column = "household_id" if kind == RESIDENT else "resident_id"
    table = "fieldteam_resident" if kind == RESIDENT else "fieldteam_household"
    # The trail's changes come from ``audit.row_changes`` (parameters ``*_changes``); the statement
    # adds what only the database knows, as the diff of the new row would record it.
    new = "jsonb_build_array(NULL, {})".format
    in_population = rules.IN_POPULATION_SQL.format(bmi="s.birth_month_index", sex="s.sex", rule="r")
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
    given AS (
        SELECT i.capability, i.outcome, i.reason, i.changes, i.position
        FROM unnest(%(item_capabilities)s::bigint[], %(item_outcomes)s::text[], %(item_reasons)s::text[],
                    %(item_changes)s::jsonb[]) WITH ORDINALITY AS i(capability, outcome, reason, changes, position)
    ),
    item AS (
        INSERT INTO fieldteam_assistanceitem (outcome, reason, province_id, log_id, capability_id)
        SELECT i.outcome, i.reason, log.province_id, log.id, i.capability
        FROM log, given i
        ORDER BY i.position
        RETURNING id, capability_id
    ),
    wanted AS (
        SELECT w.capability, w.bit, w.changes
        FROM unnest(%(done_capabilities)s::bigint[], %(done_bits)s::bigint[], %(done_changes)s::jsonb[])
             AS w(capability, bit, changes)
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
    counted_delta AS (
        SELECT s.province_id, s.village_id, r.indicator AS indicator_id, 1 AS numerator,
               (s.sex = '{Sex.FEMALE}')::integer AS women_numerator,
               (s.ethnic_group = '{EthnicGroup.MINORITY}')::integer AS minority_numerator,
               (s.ethnic_group = '{EthnicGroup.KINH}')::integer AS kinh_numerator
        FROM subject s, gained g,
             jsonb_to_recordset(%(rules)s::jsonb) AS r(indicator bigint, bit bigint, high integer, low jsonb)
        WHERE g.bits & r.bit <> 0 AND (s.capability_mask | s.derived_mask) & r.bit = 0 AND {in_population}
    ),
    counted AS (
        INSERT INTO fieldteam_villagecount (province_id, village_id, indicator_id, numerator, denominator,
                                            women_numerator, minority_numerator, kinh_numerator)
        SELECT d.province_id, d.village_id, d.indicator_id, d.numerator, 0, d.women_numerator,
               d.minority_numerator, d.kinh_numerator
        FROM counted_delta d
        ORDER BY d.indicator_id
        ON CONFLICT (village_id, indicator_id) DO UPDATE SET
            numerator = fieldteam_villagecount.numerator + excluded.numerator,
            denominator = fieldteam_villagecount.denominator + excluded.denominator,
            women_numerator = fieldteam_villagecount.women_numerator + excluded.women_numerator,
            minority_numerator = fieldteam_villagecount.minority_numerator + excluded.minority_numerator,
            kinh_numerator = fieldteam_villagecount.kinh_numerator + excluded.kinh_numerator
        RETURNING village_id, indicator_id
    ),
    {_household_gain_sql() if kind == RESIDENT else ""}
    commune_counted AS (
        {_commune_counts_sql(kind)}
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
               g.changes || jsonb_build_object('id', {new("i.id")}, 'province', {new("log.province_id")})
        FROM item i JOIN given g ON g.capability = i.capability_id, log  -- a capability appears once in a log
        UNION ALL
        SELECT %(adoption_type)s::integer, a.id::text, a.id, %(adoption_repr)s::text || a.id, {AuditEntry.Action.CREATE},
               w.changes || jsonb_build_object('id', {new("a.id")}, 'province', {new("log.province_id")})
        FROM adopted a JOIN wanted w ON w.capability = a.capability_id, log
        UNION ALL
        SELECT %(adoption_type)s::integer, m.id::text, m.id, %(adoption_repr)s::text || m.id, {AuditEntry.Action.UPDATE},
               %(moved_changes)s::jsonb
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
class _Function:
    """The statement of one kind of subject as a PL/pgSQL function: its definition and how to call it.

    Its parameters are the statement's named ones, each with its type (``%(name)s::type``), in the
    order they first appear. The name carries a digest of the definition, so a process only ever
    calls the function of its own code: a changed statement is a new function, installed by a new
    migration that calls ``install_functions`` (``tests/services/test_log_statement.py`` checks
    the one of this code is installed by the migrations).
    """

    kind: str
    name: str
    create_sql: str
    call_sql: str

    @classmethod
    def of(cls, kind: str, sql: str) -> _Function:
        # ``use_column``: the result's column names are also columns of the tables written.
        function = SqlFunction.of(
            f"fieldteam_log_{kind}",
            sql,
            returns="TABLE (out_village bigint, out_province bigint, out_trail bigint, out_receipt bigint, "
            "out_mask bigint, out_counted bigint)",
            body="#variable_conflict use_column\nBEGIN\nRETURN QUERY {statement};\nEND",
        )
        return cls(kind, function.name, function.create_sql, function.call_sql)


FUNCTIONS = {kind: _Function.of(kind, _statement(kind)) for kind in (RESIDENT, HOUSEHOLD)}


def function_digests() -> dict[str, str]:
    """The digest in the name of each function this code calls (what a migration installing them names)."""
    return {kind: function.name.rsplit("_", 1)[1] for kind, function in FUNCTIONS.items()}


def install_functions(connection_: BaseDatabaseWrapper, *, digests: dict[str, str]) -> bool:
    """Create this code's functions and drop any other ``fieldteam_log_*``; for migrations.

    ``digests``: those the calling migration was written for (``function_digests()`` then). When the
    code has moved on since, it installs nothing: the later migration written for the new
    statement does. Returns whether it installed. PostgreSQL only.
    """
    if function_digests() != digests:
        return False
    sqlfunctions.install(connection_, "fieldteam_log", [function.create_sql for function in FUNCTIONS.values()])
    return True


@functools.lru_cache(maxsize=16)
def _rules_json(in_use: rules.CountingRules, subject_kind: str) -> str:
    """The counting rules of one kind of subject as records (``ResidentRule.record``), as the statement reads them."""
    chosen = in_use.residents if subject_kind == RESIDENT else in_use.households
    return json.dumps([rule.record() for rule in chosen])


@functools.lru_cache(maxsize=16)
def _member_rules_json(in_use: rules.CountingRules) -> dict[str, str]:
    """The "any member" rules and the household counting rules, for a resident's gain to reach their household."""
    return {
        "member_rules": json.dumps(
            [{"target": rule.target_bit, "source": rule.source_mask} for rule in in_use.derivations.members]
        ),
        "household_rules": json.dumps([rule.record() for rule in in_use.households]),
    }


def _capabilities_seen(items: Sequence[LogItem]) -> str:
    """The capabilities of the items as this process read them, as the statement lists them from the table."""
    seen = {item.capability.pk: item.capability for item in items}
    return ",".join(
        f"{c.pk}:{c.code}:{c.subject}:{'t' if c.is_active else 'f'}:{c.bit}" for _pk, c in sorted(seen.items())
    )


def _changes(instance: object, fields: list[str] | None = None) -> str:
    """``audit.row_changes`` of a row built here, as JSON for the statement (which adds what the database assigns)."""
    return json.dumps(audit.row_changes(instance, fields=fields) or {})  # type: ignore[arg-type]  # the rows built here are audited models


@functools.lru_cache(maxsize=4)
def _moved_back_changes(since: date) -> str:
    """The changes of an open adoption moved back to ``since`` (the same for every adoption and log of a day)."""
    return _changes(Adoption(since=since), ["since"])


def log_assistance(
    *, actor: User, request: LogRequest, log_id: uuid.UUID, digest: str, receipt_kind: str
) -> AssistanceLog | None:
    """Write ``request`` as log ``log_id`` in one statement; ``None`` when the ORM path must take it.

    The caller has read and checked the input (the reader of ``sync``), what needs no row
    (``assistance.clean_log_content``, a time not in the future); the team, the actor's membership
    and the subject are checked by the statement itself, which writes nothing unless all holds. May raise ``IntegrityError`` (the id
    is taken: a resend), with nothing written.
    """
    province_id = _province_of(request.team)
    if province_id is None:
        return None
    latest = rules.latest_rules(province_id)
    if latest is None:
        return None
    rules_month, rules_version, in_use = latest
    now = timezone.now()
    work_date = timezone.localdate(request.occurred_at)
    since = min(work_date, timezone.localdate(now))
    done = sorted(
        {
            item.capability.pk: item.capability for item in request.items if item.outcome == AssistanceOutcome.DONE
        }.items()
    )
    subject = {f"{request.subject_kind}_id": request.subject_id}
    # The rows as the ORM path builds them, less what the database assigns (ids, village, province).
    log = AssistanceLog(
        id=log_id,
        team=request.team,
        member=actor,
        occurred_at=request.occurred_at,
        recorded_at=now,
        channel=request.channel,
        note=request.note,
        content_hash=digest,
        **subject,
    )
    items = [
        AssistanceItem(log=log, capability=item.capability, outcome=item.outcome, reason=item.reason)
        for item in request.items
    ]
    adoptions = [
        Adoption(
            since=since,
            source=AdoptionSource.ASSISTANCE,
            recorded_at=now,
            recorded_by_id=actor.pk,
            assistance_log_id=log_id,
            capability_id=pk,
            **subject,
        )
        for pk, _capability in done
    ]
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
        "channel": request.channel,
        "note": request.note,
        "hash": digest,
        "member": actor.pk,
        "team": request.team.pk,
        "item_capabilities": [item.capability.pk for item in request.items],
        "capabilities_seen": _capabilities_seen(request.items),
        "item_outcomes": [item.outcome for item in request.items],
        "item_reasons": [item.reason for item in request.items],
        "item_changes": [_changes(item) for item in items],
        "done_capabilities": [pk for pk, _capability in done],
        "done_bits": [capability.mask for _pk, capability in done],
        "done_changes": [_changes(adoption) for adoption in adoptions],
        "moved_changes": _moved_back_changes(since),
        "since": since,
        "source": AdoptionSource.ASSISTANCE,
        "rules": _rules_json(in_use, request.subject_kind),
        "rules_province": province_id,
        **(_member_rules_json(in_use) if request.subject_kind == RESIDENT else {}),
        "receipt_kind": receipt_kind,
        "log_type": content_types[AssistanceLog].pk,
        "item_type": content_types[AssistanceItem].pk,
        "adoption_type": content_types[Adoption].pk,
        "log_repr": audit.describe(log),
        # ``audit.describe`` of rows whose ids the statement draws: the name, then the id.
        "item_repr": f"{AssistanceItem._meta.verbose_name} #",
        "adoption_repr": f"{Adoption._meta.verbose_name} #",
        "log_changes": _changes(log),
        "actor": getattr(entry_actor, "pk", None),
        "actor_email": getattr(entry_actor, "email", None),
        "remote_addr": remote_addr,
        "remote_port": remote_port,
        "cid": cid,
    }
    row = _execute(FUNCTIONS[request.subject_kind], params)
    if row is None:
        USE.refused += 1
        # Perhaps only the rules in hand are out of date (a new month, a changed indicator): read
        # them again for the next log, whatever the reason was this time.
        rules.forget_latest_rules()
        return None
    USE.written += 1
    village_id, province_id = row[0], row[1]
    log.village_id, log.province_id = village_id, province_id
    log._state.adding = False
    log._state.db = connection.alias
    for item in items:
        item.province_id = province_id
    # What ``log.items.all()`` would read (the representation needs no item ids).
    cached: QuerySet[AssistanceItem] = QuerySet(AssistanceItem)
    cached._result_cache = items
    cached._prefetch_done = True  # type: ignore[attr-defined]  # Django's private prefetch cache, filled by hand with rows written here
    log._prefetched_objects_cache = {"items": cached}  # type: ignore[attr-defined]  # Django's private prefetch cache, filled by hand with rows written here
    return log


def _execute(function: _Function, params: dict[str, object]) -> tuple | None:
    """Call the function, in autocommit or in a savepoint; ``None`` when it wrote nothing or is not installed.

    Autocommit (no transaction open): the call is its own transaction, no BEGIN or COMMIT to send.
    Inside a caller's transaction, a savepoint keeps a failure (a taken id) from spoiling it.
    """
    connection.ensure_connection()
    # Django's own errors (IntegrityError, OperationalError), as its cursors raise them. Bound on
    # the client: a short call with its values written in (its template's parse cached by psycopg).
    with connection.wrap_database_errors, psycopg.ClientCursor(connection.connection) as cursor:
        try:
            with _guarded():
                cursor.execute(function.call_sql, params)
                return cursor.fetchone()
        except psycopg.errors.UndefinedFunction:
            # This code's statement is not installed: migrations not run since it changed.
            USE.missing += 1
            logger.warning("%s is not installed: run the migrations; logs take the ORM path", function.name)
            return None


def _guarded() -> contextlib.AbstractContextManager:
    """A savepoint inside the caller's transaction (a failure must not spoil it); nothing in autocommit."""
    return transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
