"""The mobile pages without a browser: they render, in Vietnamese, scoped to the member's villages."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from fieldteam.models import User
from tests.factories import TEST_PASSWORD, HouseholdFactory, MembershipFactory, ResidentFactory, UserFactory
from tests.web.conftest import WebWorld

pytestmark = pytest.mark.django_db


def vi(message: str) -> str:
    with translation.override("vi"):
        return translation.gettext(message)


@pytest.fixture
def member_client(web_world: WebWorld) -> Client:
    client = Client()
    client.force_login(web_world.member)
    return client


def test_every_page_renders_for_a_member(web_world: WebWorld, member_client: Client) -> None:
    resident, household = web_world.residents[0], web_world.household
    pages = [
        reverse("web:home"),
        reverse("web:search"),
        reverse("web:resident", args=[resident.pk]),
        reverse("web:household", args=[household.pk]),
        reverse("web:resident_shell"),
        reverse("web:household_shell"),
        reverse("web:register"),
        reverse("web:register") + f"?household={household.pk}",
        reverse("web:training"),
        reverse("web:history"),
        reverse("web:outbox"),
        reverse("web:offline"),
        reverse("web:work", args=[web_world.village.pk, "smartphone"]),
    ]
    for url in pages:
        response = member_client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Language"] == "vi", url
        assert "private" in response["Cache-Control"], url
        content = response.content.decode()
        assert 'id="ft-i18n"' in content, url  # the JavaScript's texts travel with every page


def test_pages_are_vietnamese_even_for_a_browser_set_to_english(web_world: WebWorld, member_client: Client) -> None:
    response = member_client.get(reverse("web:home"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response["Content-Language"] == "vi"
    assert '<html lang="vi">' in response.content.decode()
    strings = json.loads(
        response.content.decode().split('id="ft-i18n" type="application/json">')[1].split("</script>")[0]
    )
    assert strings["m"]["waiting"] == vi("Waiting to send")


def test_a_chosen_language_is_kept(web_world: WebWorld, member_client: Client) -> None:
    member_client.post(reverse("web:set_language"), {"language": "en", "next": "/"})
    response = member_client.get(reverse("web:home"))
    assert response["Content-Language"] == "en"


def test_anonymous_users_are_sent_to_the_mobile_login(db) -> None:
    response = Client().get(reverse("web:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))
    login = Client().get(reverse("web:login"))
    assert login.status_code == 200
    assert login["Content-Language"] == "vi"
    assert 'name="username"' in login.content.decode()


def test_login_and_logout(web_world: WebWorld) -> None:
    client = Client()
    response = client.post(reverse("web:login"), {"username": web_world.member.username, "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("web:home")
    assert client.get(reverse("web:home")).status_code == 200
    assert client.post(reverse("web:logout")).status_code == 302
    assert client.get(reverse("web:home")).status_code == 302


def test_login_is_locked_after_repeated_failures(web_world: WebWorld, settings) -> None:
    settings.AXES_ENABLED = True
    client = Client(REMOTE_ADDR="10.1.2.3")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("web:login"), {"username": web_world.member.username, "password": "wrong"})
    response = client.post(reverse("web:login"), {"username": web_world.member.username, "password": TEST_PASSWORD})
    assert response.status_code == 429
    assert not client.session.get("_auth_user_id")


def test_home_shows_the_village_its_counts_and_the_work_list(web_world: WebWorld, member_client: Client) -> None:
    content = member_client.get(reverse("web:home")).content.decode()
    assert web_world.village.name in content
    assert 'data-indicator="adults_smartphone"' in content
    # Three adults, none with a smartphone: all three are on the work list under the capability.
    section = content.split('data-capability="smartphone"')[1].split('class="work"')[0]
    for resident in web_world.residents:
        assert resident.full_name in section
    assert web_world.outsider.full_name not in content


def test_home_of_a_user_without_a_team(db) -> None:
    client = Client()
    client.force_login(UserFactory())
    response = client.get(reverse("web:home"))
    assert response.status_code == 200
    assert vi("You are not in a team") in response.content.decode()


def test_resident_page_shows_what_they_have_and_the_log_form(web_world: WebWorld, member_client: Client) -> None:
    resident = web_world.residents[2]
    content = member_client.get(reverse("web:resident", args=[resident.pk])).content.decode()
    assert resident.full_name in content
    assert resident.phone_masked in content and resident.citizen_id_masked in content
    assert "0912345678" not in content  # identifiers only masked
    assert f'data-team="{web_world.team.pk}"' in content
    assert 'data-code="smartphone"' in content
    assert 'data-code="fibre_broadband"' not in content  # a household capability is logged on the household


@pytest.mark.parametrize("page", ["resident", "household"])
def test_another_villages_people_answer_404(web_world: WebWorld, member_client: Client, page: str) -> None:
    target = web_world.outsider if page == "resident" else web_world.outsider_household
    assert member_client.get(reverse(f"web:{page}", args=[target.pk])).status_code == 404
    assert member_client.get(reverse(f"web:{page}", args=[999999])).status_code == 404


def test_other_pages_out_of_scope_answer_404(web_world: WebWorld, member_client: Client) -> None:
    assert member_client.get(reverse("web:work", args=[web_world.other_village.pk, "smartphone"])).status_code == 404
    assert (
        member_client.get(reverse("web:register") + f"?household={web_world.outsider_household.pk}").status_code == 404
    )


def test_a_commune_officer_may_read_a_resident_page_but_not_log(web_world: WebWorld, commune_officer: User) -> None:
    client = Client()
    client.force_login(commune_officer)
    content = client.get(reverse("web:resident", args=[web_world.residents[0].pk])).content.decode()
    assert 'data-team=""' in content
    assert client.get(reverse("web:resident", args=[web_world.outsider.pk])).status_code == 404


def test_roster_holds_the_members_villages_only_with_masked_identifiers(
    web_world: WebWorld, member_client: Client
) -> None:
    response = member_client.get(reverse("web:roster"))
    assert response.status_code == 200
    data = response.json()
    assert data["user"] == web_world.member.username
    assert [v["id"] for v in data["villages"]] == [web_world.village.pk]
    assert data["villages"][0]["team"] == web_world.team.pk
    names = {r["n"] for r in data["residents"]}
    assert names == {r.full_name for r in web_world.residents}
    assert web_world.outsider.full_name not in response.content.decode()
    binh = next(r for r in data["residents"] if r["n"] == "Trần Văn Bình")
    assert binh["p"] == web_world.residents[2].phone_masked and binh["c"] == web_world.residents[2].citizen_id_masked
    raw = response.content.decode()
    assert "0912345678" not in raw and "424242" not in raw  # no clear identifiers, no ciphertexts or hashes
    assert web_world.residents[2].phone_hash not in raw
    assert {c["code"] for c in data["capabilities"]} >= {"smartphone", "fibre_broadband"}


def test_roster_answers_304_when_unchanged(web_world: WebWorld, member_client: Client) -> None:
    first = member_client.get(reverse("web:roster"))
    again = member_client.get(reverse("web:roster"), HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304


def test_roster_of_a_staff_user_without_a_team_is_empty(web_world: WebWorld, commune_officer: User) -> None:
    client = Client()
    client.force_login(commune_officer)
    data = client.get(reverse("web:roster")).json()
    assert data["villages"] == [] and data["residents"] == []


def test_roster_needs_a_login(db) -> None:
    assert Client().get(reverse("web:roster")).status_code == 302


def test_search_by_name_without_diacritics_stays_in_scope(web_world: WebWorld, member_client: Client) -> None:
    content = member_client.post(reverse("web:search"), {"q": "nguyen thi hoa"}).content.decode()
    assert "Nguyễn Thị Hoa" in content
    content = member_client.post(reverse("web:search"), {"q": "Ksor"}).content.decode()
    assert web_world.outsider.full_name not in content


def test_search_by_exact_phone_or_citizen_id_only_by_post(web_world: WebWorld, member_client: Client) -> None:
    binh = web_world.residents[2]
    assert binh.full_name in member_client.post(reverse("web:search"), {"q": "0912 345 678"}).content.decode()
    cccd = "001090424242"
    assert binh.full_name in member_client.post(reverse("web:search"), {"q": cccd}).content.decode()
    # An identifier put in a URL is not searched, nor echoed back into the page.
    content = member_client.get(reverse("web:search"), {"q": "0912345678"}).content.decode()
    assert binh.full_name not in content and "0912345678" not in content


def test_search_by_identifier_of_someone_out_of_scope_finds_nobody(web_world: WebWorld, member_client: Client) -> None:
    other_member = MembershipFactory(team__village=web_world.other_village).user
    client = Client()
    client.force_login(other_member)
    assert "Trần Văn Bình" not in client.post(reverse("web:search"), {"q": "0912345678"}).content.decode()


def test_service_worker_is_served_from_the_root_with_its_shell(web_world: WebWorld) -> None:
    response = Client().get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert response["Cache-Control"] == "no-cache"
    body = response.content.decode()
    for name in ("web/app.js", "web/app.css", reverse("web:roster"), reverse("web:resident_shell")):
        assert name in body


def test_manifest_makes_the_app_installable(db) -> None:
    response = Client().get(reverse("web:manifest"))
    assert response["Content-Type"] == "application/manifest+json"
    data = json.loads(response.content)
    assert data["start_url"] == "/" and data["display"] == "standalone" and data["lang"] == "vi"
    sizes = {icon["sizes"] for icon in data["icons"]}
    assert {"192x192", "512x512"} <= sizes
    assert any(icon.get("purpose") == "maskable" for icon in data["icons"])
    for icon in data["icons"]:
        assert finders.find(
            icon["src"].removeprefix(
                settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/" + settings.STATIC_URL
            )
        )


def test_history_lists_my_logs(web_world: WebWorld, member_client: Client) -> None:
    import uuid

    from django.utils import timezone

    from fieldteam.services.assistance import ItemInput, log_assistance

    log_assistance(
        actor=web_world.member,
        team=web_world.team,
        occurred_at=timezone.now(),
        channel="home_visit",
        items=[ItemInput(web_world.smartphone, "done")],
        resident=web_world.residents[0],
        note="Cài Zalo",
        log_id=uuid.uuid4(),
    )
    content = member_client.get(reverse("web:history")).content.decode()
    assert "Rơ Mah An" in content and "Cài Zalo" in content
    home = member_client.get(reverse("web:home")).content.decode()
    assert 'data-stat="today-logs">1<' in home
    resident_page = member_client.get(reverse("web:resident", args=[web_world.residents[0].pk])).content.decode()
    assert "Cài Zalo" in resident_page


def _add_residents(world: WebWorld, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        household = HouseholdFactory(village=world.village, code=f"Q-{n:03d}")
        ResidentFactory(household=household, full_name=f"Người {n}", birth_year=1960 + n)


@pytest.mark.parametrize("page", ["home", "roster", "resident", "household", "search", "history"])
def test_queries_do_not_grow_with_the_village(
    web_world: WebWorld, member_client: Client, django_assert_max_num_queries, page: str
) -> None:
    urls = {
        "home": reverse("web:home"),
        "roster": reverse("web:roster"),
        "resident": reverse("web:resident", args=[web_world.residents[0].pk]),
        "household": reverse("web:household", args=[web_world.household.pk]),
        "search": reverse("web:search") + "?q=Người",
        "history": reverse("web:history"),
    }
    _add_residents(web_world, 1)
    with CaptureQueriesContext(connection) as small:
        member_client.get(urls[page])
    _add_residents(web_world, 25, start=1)
    with django_assert_max_num_queries(len(small)):
        assert member_client.get(urls[page]).status_code == 200
