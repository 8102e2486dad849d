"""Follow-up visits on the field app (issue 17): the member's work list, the leader's per-member counts, the roster."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fieldteam.choices import AssistanceChannel, AssistanceOutcome, NotDoneReason
from fieldteam.models import Capability, Resident, User
from fieldteam.services.assistance import ItemInput, log_assistance
from tests.web.conftest import WebWorld

pytestmark = pytest.mark.django_db


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def log(world: WebWorld, resident: Resident, capability: Capability, days_ago: int, reason: str = "") -> None:
    log_assistance(
        actor=world.member,
        team=world.team,
        occurred_at=timezone.now() - dt.timedelta(days=days_ago),
        channel=AssistanceChannel.HOME_VISIT,
        items=[ItemInput(capability, AssistanceOutcome.NOT_DONE if reason else AssistanceOutcome.DONE, reason)],
        resident=resident,
    )


def test_the_members_work_list_shows_due_and_overdue_follow_ups_first(web_world: WebWorld) -> None:
    an, hoa, binh = web_world.residents[:3]
    log(web_world, an, web_world.smartphone, 5, NotDoneReason.ABSENT)  # overdue by 2 days
    log(web_world, hoa, web_world.smartphone, 1, NotDoneReason.MISSING_DOCUMENTS)  # due in 29 days: later
    log(web_world, binh, web_world.smartphone, 2, NotDoneReason.ABSENT)  # due tomorrow
    log(web_world, binh, web_world.skills, 3, NotDoneReason.ABSENT)
    log(web_world, binh, web_world.skills, 1)  # done: closed
    html = client_of(web_world.member).get(reverse("web:home")).content.decode()
    block = html[html.index("data-follow-ups") : html.index("</div>", html.index("data-follow-ups"))]
    assert block.index(an.full_name) < block.index(binh.full_name)  # the overdue first
    assert hoa.full_name not in block
    assert f'data-id="{an.pk}" data-capability="smartphone"' in block
    assert 'class="overdue"' in block
    assert block.count("<li ") == 2
    assert html.index("data-follow-ups") < html.index('class="work" data-capability')  # before the work list


def test_the_leader_sees_follow_ups_per_member(web_world: WebWorld, leader: User) -> None:
    log(web_world, web_world.residents[0], web_world.smartphone, 5, NotDoneReason.ABSENT)
    html = client_of(leader).get(reverse("web:home")).content.decode()
    assert f'data-member="{web_world.member.pk}"' in html
    assert 'data-follow-ups="0 0 1"' in html  # due, done on time, overdue
    assert 'data-follow-ups="0 0 1"' not in client_of(web_world.member).get(reverse("web:home")).content.decode()


def test_follow_ups_travel_with_the_roster(web_world: WebWorld) -> None:
    an = web_world.residents[0]
    log(web_world, an, web_world.smartphone, 1, NotDoneReason.ABSENT)
    first = client_of(web_world.member).get(reverse("web:roster"))
    [item] = first.json()["follow_ups"]
    assert (item["s"], item["i"], item["v"], item["c"], item["r"]) == (
        "resident",
        an.pk,
        web_world.village.pk,
        "smartphone",
        NotDoneReason.ABSENT,
    )
    assert item["d"] == (timezone.localdate() + dt.timedelta(days=2)).isoformat()
    # The sync that closes it changes the roster: a phone holding the old one gets the new one.
    log(web_world, an, web_world.smartphone, 0)
    again = client_of(web_world.member).get(reverse("web:roster"), HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 200 and again.json()["follow_ups"] == []
