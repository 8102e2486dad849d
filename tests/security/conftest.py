"""The leak-test world: the API tests' four places, made recognisable, and helpers to look for leaks.

``leak_world`` is ``tests.api.conftest.world`` (a team, member, household, resident with a real
CCCD and phone, log, training session and reported value in each of ``V1`` the member's village,
``V2`` a sibling village, ``V3`` a village of the other commune, ``VF`` a village of another
province) with, on top:

- recognisable names: each place's resident, household head and household code carry a marker
  (``Leakcheck V3 …``), so "this page mentions an object out of scope" is a substring test that
  cannot match by chance;
- a finished report job and a finished export job started by each officer, so downloads of
  someone else's file can be tried.

``SEES`` (from the API tests) says which places each role sees; ``hidden_places(role)`` the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest
from django.test import Client

from fieldteam import identifiers
from fieldteam.models import Household, Resident, User
from fieldteam.services import people
from tests.api.conftest import PLACES, SEES, World, capabilities, client_for, world

__all__ = ["capabilities", "client_for", "world"]  # fixtures re-exported for the tests of this directory

# The roles the issue names, plus the read-only area role; ``superuser`` is the reference that sees all.
ROLES = ("member", "leader", "commune_officer", "province_officer", "viewer")
STAFF_ROLES = ("commune_officer", "province_officer", "viewer")
# An identifier that belongs to nobody, for "out of scope answers like missing".
NOBODYS_CCCD = "001180999999"
NOBODYS_PHONE = "0987654321"


def hidden_places(role: str) -> list[str]:
    return [p for p in PLACES if p not in SEES[role]]


def marker(place: str) -> str:
    return f"Leakcheck {place}"


@dataclass
class LeakWorld:
    world: World
    # The raw identifiers of every resident of the world (in and out of scope), as stored.
    citizen_ids: dict[str, str] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)

    @property
    def users(self) -> dict[str, User]:
        return self.world.users

    @property
    def places(self):
        return self.world.places

    def names_of(self, place: str) -> list[str]:
        """Strings that only a page about ``place``'s objects can contain."""
        p = self.world.places[place]
        return [marker(place), p.village.name]

    def secrets(self) -> list[str]:
        """Every raw identifier, and the other ways it is commonly written."""
        found = []
        for value in [*self.citizen_ids.values(), *self.phones.values()]:
            found.append(value)
        for value in self.phones.values():
            found.append("84" + value[1:])  # +84 form
        return found


def _spellings(text: str) -> set[str]:
    """``text`` as it may appear in a body: raw, JSON-escaped, HTML-escaped."""
    from django.utils.html import escape

    return {text, json.dumps(text)[1:-1], escape(text)}


def leaked(body: str | bytes, needles: Iterable[str]) -> list[str]:
    """The needles found in ``body`` (in any common spelling)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return [needle for needle in needles if any(s in text for s in _spellings(needle))]


def assert_no_identifiers(lw: LeakWorld, body: str | bytes, where: object) -> None:
    found = leaked(body, lw.secrets())
    assert not found, f"raw identifiers {found} in {where}"


def assert_nothing_of(lw: LeakWorld, places: Iterable[str], body: str | bytes, where: object) -> None:
    found = leaked(body, [name for place in places for name in lw.names_of(place)])
    assert not found, f"out-of-scope names {found} in {where}"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def leak_world(world: World) -> LeakWorld:
    lw = LeakWorld(world=world)
    for place in PLACES:
        p = world.places[place]
        p.resident = people.update_resident(actor=None, resident=p.resident, full_name=f"{marker(place)} Resident")
        Household.objects.filter(pk=p.household.pk).update(head_name=f"{marker(place)} Head", code=f"LEAKCHECK-{place}")
        p.household.refresh_from_db()
        resident = Resident.objects.get(pk=p.resident.pk)
        lw.citizen_ids[place] = identifiers.decrypt(resident.citizen_id_ciphertext)
        lw.phones[place] = identifiers.decrypt(resident.phone_ciphertext)
    return lw


@pytest.fixture
def web_client():
    """A Django test client signed in as ``user`` (session), that answers 500s instead of raising."""

    def make(user: User) -> Client:
        client = Client(raise_request_exception=False)
        client.force_login(user)
        return client

    return make
