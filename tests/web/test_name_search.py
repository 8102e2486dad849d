"""Search by name as people type it (issue 16 item 12): words of the name, each a prefix, accents optional."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from fieldteam.choices import Sex
from fieldteam.models import Resident
from fieldteam.selectors.people import name_matches
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


def test_a_household_code_finds_its_people_in_scope_only(web_world: WebWorld, named) -> None:
    """The code is matched exactly, any case, beside the name: read first, then one OR on the resident."""
    lang = named["village"]
    assert names(search_residents(user=web_world.member, query="lm-01")) == ["Nguyễn Bình"]
    # The same code in a village out of scope finds nobody there; the village filter narrows the codes too.
    HouseholdFactory(village=web_world.other_village, code="LM-01")
    assert names(search_residents(user=web_world.member, query="LM-01", village_id=lang.pk)) == ["Nguyễn Bình"]
    assert search_residents(user=web_world.member, query="LM-01", village_id=web_world.village.pk) == []
    assert search_residents(user=web_world.member, query="X-001") == []  # the outsider's household


def test_words_too_short_for_the_index_begin_a_word_too(web_world: WebWorld, named) -> None:
    """Words all under three letters are compared without the regular expression: the same answer."""
    expected = {"Nguyễn An", "Nguyen An", "Nguyễn Văn An", "Nguyễn Anh", "Trần An Nguyên"}
    found = set(names(search_residents(user=web_world.member, query="an")))
    assert expected <= found
    assert not found & {"Nguyễn Lan", "Nguyễn Bình"}  # "an" ends "Lan"; it is only in Bình's village's name
    assert set(names(search_residents(user=web_world.member, query="AN ng"))) == expected  # all have a "Ng…"
    assert names(search_residents(user=web_world.member, query="an vă")) == ["Nguyễn Văn An"]


@pytest.mark.parametrize("query", ["a.h", "ngu.en", "an|lan", "(an", "[a", "an*", "a+", "\\", "^an", "an$"])
def test_what_a_pattern_would_mean_is_matched_as_typed(web_world: WebWorld, named, query: str) -> None:
    """A word is compared as text: "a.h" finds no "Anh", "(an" raises nothing, on either database."""
    assert search_residents(user=web_world.member, query=query) == []


def test_on_postgresql_a_name_search_reads_the_trigram_index(web_world: WebWorld, named) -> None:
    """Migration 0028's index answers every word of a query (a province holds a million names)."""
    if connection.vendor != "postgresql":
        pytest.skip("the trigram index is PostgreSQL's")
    queryset = Resident.objects.filter(name_matches("nguyen van an"))
    with connection.cursor() as cursor:
        # On a test's few rows a scan is cheaper: forbid scans (of the table, of another index in
        # order), to ask whether the name's condition can be answered by an index at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "resident_search_name_trgm" in plan
