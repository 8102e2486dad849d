"""Search by name as people type it (issue 16 item 12): words of the name, each a prefix, accents optional."""

from __future__ import annotations

import pytest
from django.urls import reverse

from fieldteam.choices import Sex
from fieldteam.models import Resident
from fieldteam.selectors.web import search_residents
from tests.conftest import AreaTree
from tests.factories import HouseholdFactory, ResidentFactory
from tests.web.conftest import WebWorld

pytestmark = pytest.mark.django_db


@pytest.fixture
def named(web_world: WebWorld, area_tree: AreaTree) -> dict[str, Resident]:
    # A village whose name holds "an": its people must not match "an" through it.
    lang = area_tree.village2
    lang.name = "Làng Mới"
    lang.save(update_fields=["name"])
    web_world.team.areas.add(lang)
    lang_household = HouseholdFactory(village=lang, code="LM-01", head_name="Nguyễn Bình")
    household = web_world.household
    made = {
        name: ResidentFactory(household=hh, full_name=name, sex=Sex.MALE, birth_year=1980)
        for name, hh in (
            ("Nguyễn An", household),
            ("Nguyen An", household),
            ("Nguyễn Văn An", household),
            ("Nguyễn Anh", household),
            ("Nguyễn Lan", household),
            ("Trần An Nguyên", household),
            ("Nguyễn Bình", lang_household),
        )
    }
    made["village"] = lang  # type: ignore[assignment]  # the fixture hands the village along
    return made


def names(found: list[Resident]) -> list[str]:
    return [r.full_name for r in found]


def test_each_word_begins_a_word_of_the_name_and_the_village_is_no_match(web_world: WebWorld, named) -> None:
    found = names(search_residents(user=web_world.member, query="nguyen an"))
    assert "Nguyễn Bình" not in found  # "an" is in "Làng" and "Bình"'s household, not in the name
    assert "Nguyễn Lan" not in found  # "an" ends "Lan": not the start of a word
    assert set(found) == {"Nguyễn An", "Nguyen An", "Nguyễn Văn An", "Nguyễn Anh", "Trần An Nguyên"}


def test_exact_matches_come_first(web_world: WebWorld, named) -> None:
    found = names(search_residents(user=web_world.member, query="Nguyễn An"))
    assert found[:2] == ["Nguyễn An", "Nguyen An"]  # as typed, then the same name without accents
    assert found[2] == "Nguyễn Anh"  # then names that start so
    found = names(search_residents(user=web_world.member, query="nguyen an"))
    assert set(found[:2]) == {"Nguyễn An", "Nguyen An"}


def test_the_village_filters(web_world: WebWorld, named) -> None:
    lang = named["village"]
    assert names(search_residents(user=web_world.member, query="nguyen", village_id=lang.pk)) == ["Nguyễn Bình"]
    assert "Nguyễn Bình" not in names(search_residents(user=web_world.member, query="nguyen", village_id=web_world.village.pk))
    # A village outside the member's scope filters to nothing, it does not widen anything.
    assert search_residents(user=web_world.member, query="ksor", village_id=web_world.other_village.pk) == []


def test_the_search_page_takes_the_village_filter(web_world: WebWorld, named, client) -> None:
    client.force_login(web_world.member)
    response = client.get(reverse("web:search"), {"q": "nguyen an"})
    assert "Nguyễn Bình" not in response.content.decode()
    assert "Nguyễn Văn An" in response.content.decode()
    lang = named["village"]
    response = client.get(reverse("web:search"), {"q": "nguyen", "village": lang.pk})
    assert [r.full_name for r in response.context["results"]] == ["Nguyễn Bình"]


def test_a_word_also_begins_after_an_apostrophe_or_a_hyphen(web_world: WebWorld) -> None:
    """Ê Đê and Jrai names are written "H'Linh", "Y-Blih": their people search for "Linh", "Blih"."""
    for name in ("Rơ Mah H'Linh", "Ksor Y\u2019Bhin", "Niê Y-Blih", "Nguyễn Thị Linh Đan"):
        ResidentFactory(household=web_world.household, full_name=name, sex=Sex.FEMALE, birth_year=1985)

    assert names(search_residents(user=web_world.member, query="linh")) == ["Nguyễn Thị Linh Đan", "Rơ Mah H'Linh"]
    assert names(search_residents(user=web_world.member, query="bhin")) == ["Ksor Y\u2019Bhin"]
    assert names(search_residents(user=web_world.member, query="blih")) == ["Niê Y-Blih"]
    assert names(search_residents(user=web_world.member, query="inh")) == []  # still only the start of a word
