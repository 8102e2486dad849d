"""Follow-up visits as a property (issue 17): created by every "not done", closed by every later log.

Any sequence of offline batches — logs done or not done for any reason, of any subject and
capability, stamped at any time (a phone sends late what it logged early), sent again whole or in
part — leaves the selector's follow-ups equal to a brute-force list written from the definition:
for each subject and capability, the latest log's item, if not done for a reason with a delay,
is one open follow-up due that many days later; every earlier not-done of it was closed by the
next log. None lost, none duplicated. Both write paths (the one statement on PostgreSQL, the ORM).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fieldteam.choices import NotDoneReason
from fieldteam.models import AssistanceLog
from fieldteam.models.follow_ups import DEFAULT_DELAYS
from fieldteam.rollup import rules
from fieldteam.selectors.follow_ups import follow_up_counts_by_village, follow_ups
from fieldteam.services.follow_ups import set_follow_up_rule
from fieldteam.sync.envelope import sync_batch
from tests.conftest import AreaTree
from tests.factories import CapabilityFactory, HouseholdFactory, MembershipFactory, ResidentFactory, TeamFactory

pytestmark = pytest.mark.usefixtures("log_path")

START = (dt.date(2026, 1, 5), dt.time(8))  # made aware in the local time zone below
DAY = dt.date(2026, 3, 20)  # the day the counts are read on, after every log
OUTCOMES = ["done", *NotDoneReason.values]


@pytest.fixture
def world(area_tree: AreaTree):
    team = TeamFactory(village=area_tree.village, areas=[area_tree.commune])
    members = [MembershipFactory(team=team).user for _ in range(2)]
    residents = [
        ResidentFactory(household=HouseholdFactory(village=v)) for v in (area_tree.village, area_tree.village2)
    ]
    households = [residents[0].household, HouseholdFactory(village=area_tree.village2)]
    capabilities = {
        "resident": [CapabilityFactory(code="smartphone"), CapabilityFactory(code="payment_account")],
        "household": [CapabilityFactory(code="fibre_broadband", for_household=True)],
    }
    # The province's own rule for one reason: no signal followed up after a fortnight there.
    set_follow_up_rule(actor=None, province=area_tree.province, reason=NotDoneReason.NO_SIGNAL, delay_days=14)
    delays = {**{str(k): v for k, v in DEFAULT_DELAYS.items()}, NotDoneReason.NO_SIGNAL: 14}
    return {
        "tree": area_tree,
        "team": team,
        "members": members,
        "subjects": [("resident", r) for r in residents] + [("household", h) for h in households],
        "capabilities": capabilities,
        "delays": delays,
    }


# One log: subject, capability, outcome, minutes after START (distinct per log below), member.
logs = st.tuples(
    st.integers(0, 3), st.integers(0, 1), st.sampled_from(OUTCOMES), st.integers(0, 60 * 24 * 70), st.integers(0, 1)
)
# A batch: its logs, and whether the phone sends it (or its first half) again.
batches = st.tuples(st.lists(logs, min_size=1, max_size=6), st.sampled_from(["once", "twice", "half_again"]))


def brute_force(world, accepted):
    """(kind, id, capability, reason, due) of each open follow-up, and the counts per village, by definition."""
    by_key: dict[tuple, list] = {}
    for entry in sorted(accepted, key=lambda e: e["at"]):
        by_key.setdefault((entry["kind"], entry["subject"].pk, entry["capability"].pk), []).append(entry)
    opened, counts = [], Counter()
    since = timezone.make_aware(dt.datetime.combine(DAY.replace(day=1), dt.time.min))
    for (kind, sid, cap), entries in by_key.items():
        for i, entry in enumerate(entries):
            if entry["outcome"] == "done" or world["delays"][entry["outcome"]] is None:
                continue
            due = timezone.localdate(entry["at"]) + dt.timedelta(days=world["delays"][entry["outcome"]])
            village = entry["subject"].village_id
            if i + 1 == len(entries):
                opened.append((kind, sid, cap, entry["outcome"], due))
                if due < DAY:
                    counts[(village, "overdue")] += 1
                elif due <= DAY + dt.timedelta(days=7):
                    counts[(village, "due")] += 1
            else:
                closer = entries[i + 1]["at"]
                if closer >= since and timezone.localdate(closer) <= due:
                    counts[(village, "done_on_time")] += 1
    return sorted(opened), counts


def send(world, member, items):
    results = sync_batch(actor=member, payload={"items": items})
    assert all(r.status in ("created", "already_received") for r in (results)), [r.errors for r in results]


@given(sequence=st.lists(batches, max_size=6))
@example(
    sequence=[
        ([(0, 0, NotDoneReason.ABSENT, 100, 0)], "once"),
        ([(0, 0, "done", 50, 1), (0, 0, NotDoneReason.MISSING_DOCUMENTS, 5000, 0)], "twice"),
        ([(2, 0, NotDoneReason.NO_SIGNAL, 200, 1), (2, 0, NotDoneReason.NO_SIGNAL, 99, 1)], "half_again"),
    ]
)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
def test_follow_ups_equal_the_brute_force_list(world, sequence):
    # Each example rolls back: rules read in an earlier one may name rows that are gone.
    rules.forget_latest_rules()
    with transaction.atomic():
        accepted, used_minutes = [], set()
        for batch, resend in sequence:
            items, entries = [], []
            for subject_i, cap_i, outcome, minutes, _member in batch:
                kind, subject = world["subjects"][subject_i]
                capability = world["capabilities"][kind][cap_i % len(world["capabilities"][kind])]
                while minutes in used_minutes:  # distinct times: the latest log is never a tie
                    minutes += 1
                used_minutes.add(minutes)
                at = timezone.make_aware(dt.datetime.combine(*START)) + dt.timedelta(minutes=minutes)
                item = {"capability": capability.code, "outcome": "done" if outcome == "done" else "not_done"}
                if outcome != "done":
                    item["reason"] = outcome
                client_id = str(uuid.uuid4())
                items.append(
                    {
                        "kind": "assistance_log",
                        "client_id": client_id,
                        "data": {
                            "team": world["team"].pk,
                            kind: subject.pk,
                            "occurred_at": at.isoformat(),
                            "channel": "home_visit",
                            "items": [item],
                        },
                    }
                )
                entries.append(
                    {"kind": kind, "subject": subject, "capability": capability, "outcome": outcome, "at": at}
                )
            member = world["members"][batch[0][4]]
            send(world, member, items)
            if resend == "twice":
                send(world, member, items)
            elif resend == "half_again":
                send(world, member, items[: max(1, len(items) // 2)])
            accepted.extend(entries)
        assert AssistanceLog.objects.filter(team=world["team"]).count() == len(accepted)

        tree = world["tree"]
        villages = [tree.village, tree.village2]
        expected, expected_counts = brute_force(world, accepted)
        found = follow_ups(user=world["members"][0], villages=villages)
        got = sorted((f.subject, f.subject_id, f.capability_id, f.reason, f.due_on) for f in found)
        assert got == expected
        counts = follow_up_counts_by_village(user=world["members"][0], villages=villages, day=DAY)
        for village in villages:
            c = counts.get(village.pk)
            for name in ("due", "done_on_time", "overdue"):
                assert (getattr(c, name) if c else 0) == expected_counts[(village.pk, name)], (village.name, name)
        transaction.set_rollback(True)
