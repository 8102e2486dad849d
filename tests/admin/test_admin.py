"""Django admin: every page renders, identifiers are never shown in full, and scoping holds.

Residents are registered through the services (factories call them), so each has its identifiers
encrypted, hashed and masked as in production.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from fieldteam.choices import (
    AdoptionSource,
    AreaKind,
    AreaRoleKind,
    AssistanceChannel,
    AssistanceOutcome,
    ConsentChannel,
    ConsentPurpose,
    IndicatorKind,
    MembershipRole,
    NotDoneReason,
    PeriodKind,
    ResidentStatus,
    Sex,
)
from fieldteam.identifiers import mask_citizen_id, mask_phone
from fieldteam.models import (
    Adoption,
    Area,
    AreaRole,
    AssistanceItem,
    AssistanceLog,
    BackgroundJob,
    Capability,
    CommuneCount,
    ConsentRecord,
    FollowUpRule,
    Household,
    IndicatorValue,
    JobKind,
    Membership,
    MemberTraining,
    MonthApproval,
    Plan,
    PlanTarget,
    Resident,
    RollupState,
    SyncReceipt,
    Target,
    Team,
    TrainingAttendance,
    TrainingSession,
    User,
    VillageCount,
)
from tests.conftest import AreaTree
from tests.factories import (
    AreaRoleFactory,
    CapabilityDerivationFactory,
    CapabilityFactory,
    HouseholdFactory,
    IndicatorFactory,
    MembershipFactory,
    NationalTargetFactory,
    OfficialPopulationFactory,
    PopulationBoundFactory,
    ReportDeliveryFactory,
    ReportSubscriptionFactory,
    ResidentFactory,
    RetirementAgeFactory,
    TargetFactory,
    TeamFactory,
    make_citizen_id,
    make_phone,
)

pytestmark = pytest.mark.django_db

CCCD = make_citizen_id(birth_year=1985, sex=Sex.FEMALE, province_code="064", serial=739214)
PHONE = make_phone(86420135, prefix="09")
OTHER_CCCD = make_citizen_id(birth_year=1990, sex=Sex.MALE, province_code="064", serial=518273)
OTHER_PHONE = make_phone(75318642, prefix="03")


def url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def shows(html: str, text: str) -> bool:
    """Whether ``text`` appears in the page as the template escapes it."""
    return escape(text) in html


def assert_no_identifiers(html: str) -> None:
    """Neither the full numbers nor their usual written forms appear anywhere in the page."""
    for number in (CCCD, PHONE, OTHER_CCCD, OTHER_PHONE):
        assert number not in html
    assert f"+84{PHONE[1:]}" not in html
    assert re.sub(r"(\d{3})(\d{3})(\d{4})", r"\1 \2 \3", PHONE) not in html


@dataclass
class World:
    tree: AreaTree
    household: Household
    resident: Resident
    other_household: Household
    other_resident: Resident
    team: Team
    other_team: Team
    capability: Capability
    household_capability: Capability
    adoption: Adoption
    log: AssistanceLog
    session: TrainingSession
    consent: ConsentRecord
    target: Target
    value: IndicatorValue


@pytest.fixture
def world(area_tree: AreaTree, superuser: User) -> World:
    """One of everything: people in the officer's commune and in the neighbouring commune."""
    household = HouseholdFactory(village=area_tree.village, head_name="Rơ Mah Hlim", code="HH-1")
    resident = ResidentFactory(
        household=household, full_name="Rơ Mah H'Linh", sex=Sex.FEMALE, birth_year=1985, citizen_id=CCCD, phone=PHONE
    )
    other_household = HouseholdFactory(village=area_tree.other_village, head_name="Siu Dố", code="HH-2")
    other_resident = ResidentFactory(
        household=other_household,
        full_name="Siu Thơ",
        sex=Sex.MALE,
        birth_year=1990,
        citizen_id=OTHER_CCCD,
        phone=OTHER_PHONE,
    )
    team = TeamFactory(village=area_tree.village, name="Tổ CNS Thôn 1")
    other_team = TeamFactory(village=area_tree.other_village, name="Tổ CNS Làng Dố")
    member = MembershipFactory(team=team, role=MembershipRole.LEADER).user
    AreaRoleFactory(area=area_tree.other_commune, role=AreaRoleKind.COMMUNE_OFFICER)
    MembershipFactory(team=other_team)

    capability = CapabilityFactory(code="smartphone", name="Smartphone")
    household_capability = CapabilityFactory(code="fibre", name="Fibre broadband", for_household=True)
    indicator = IndicatorFactory(capability=capability, name="Adults with a smartphone")
    reported = IndicatorFactory(reported=True, name="Digital economy share of GRDP")
    RetirementAgeFactory()
    CapabilityDerivationFactory(any_member=True, source=capability, target=household_capability)
    PopulationBoundFactory(province=area_tree.province, indicator=indicator)

    from fieldteam.services.adoption import set_adoption

    adoption = set_adoption(
        actor=superuser,
        capability=capability,
        since=dt.date(2025, 1, 10),
        source=AdoptionSource.SURVEY,
        resident=resident,
    )
    now = timezone.now()
    log = AssistanceLog.objects.create(
        province=area_tree.province,
        team=team,
        member=member,
        resident=resident,
        village=area_tree.village,
        occurred_at=now,
        channel=AssistanceChannel.HOME_VISIT,
    )
    AssistanceItem.objects.create(
        province=area_tree.province, log=log, capability=capability, outcome=AssistanceOutcome.DONE
    )
    session = TrainingSession.objects.create(
        province=area_tree.province,
        team=team,
        village=area_tree.village,
        topic="Bình dân học vụ số",
        started_at=now,
        trainer=member,
        capability=capability,
    )
    TrainingAttendance.objects.create(province=area_tree.province, session=session, resident=resident)
    consent = ConsentRecord.objects.create(
        province=area_tree.province,
        resident=resident,
        purposes=[ConsentPurpose.DIGITAL_ASSISTANCE],
        channel=ConsentChannel.PAPER,
        notice_version="2026-01",
        given_at=now,
        recorded_by=superuser,
    )
    target = TargetFactory(indicator=indicator, area=area_tree.province, year=2025, value=Decimal("80"))
    plan = Plan.objects.create(
        province=area_tree.province, document="1331/KH-UBND", name="Kế hoạch 1331", adopted_on=dt.date(2022, 6, 22)
    )
    PlanTarget.objects.create(plan=plan, indicator=indicator, year=2030, value=Decimal("95"))
    NationalTargetFactory(indicator=indicator)
    value = IndicatorValue.objects.create(
        province=area_tree.province,
        area=area_tree.province,
        indicator=reported,
        period_kind=PeriodKind.YEAR,
        period_start=dt.date(2025, 1, 1),
        value=Decimal("12.5"),
    )
    VillageCount.objects.get_or_create(
        village=area_tree.village, indicator=indicator, defaults={"province": area_tree.province}
    )
    CommuneCount.objects.get_or_create(
        commune=area_tree.commune, indicator=indicator, defaults={"province": area_tree.province}
    )
    RollupState.objects.get_or_create(province=area_tree.province, defaults={"month": dt.date(2025, 1, 1)})
    MonthApproval.objects.create(province=area_tree.province, area=area_tree.commune, month=dt.date(2025, 1, 1))
    OfficialPopulationFactory(area=area_tree.village, year=2025, total=300, age_18_plus=200, households=80)
    MemberTraining.objects.create(
        user=superuser, team=team, topic="Kỹ năng số cơ bản", trained_on=dt.date(2025, 3, 1), recorded_by=superuser
    )
    # Transactional tests empty the seeded national rules: one of each table must be there to render.
    FollowUpRule.objects.get_or_create(province=None, reason=NotDoneReason.ABSENT, defaults={"delay_days": 3})
    BackgroundJob.objects.create(
        kind=JobKind.REPORT, name="periodic-report", area=area_tree.commune, created_by=superuser
    )
    ReportDeliveryFactory(subscription=ReportSubscriptionFactory(user=superuser, area=area_tree.commune))
    SyncReceipt.objects.create(
        client_id=uuid.uuid4(),
        province=area_tree.province,
        kind="household",
        content_hash="0" * 64,
        object_id=str(household.pk),
        member=superuser,
    )
    return World(
        tree=area_tree,
        household=household,
        resident=resident,
        other_household=other_household,
        other_resident=other_resident,
        team=team,
        other_team=other_team,
        capability=capability,
        household_capability=household_capability,
        adoption=adoption,
        log=log,
        session=session,
        consent=consent,
        target=target,
        value=value,
    )


def logged_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def fieldteam_admins() -> list[tuple[type, admin.ModelAdmin]]:
    return [(m, a) for m, a in admin.site._registry.items() if m._meta.app_label == "fieldteam"]


# --- every page renders for a superuser ---------------------------------------------------------


def test_every_fieldteam_model_has_an_admin() -> None:
    from django.apps import apps

    registered = {m for m, _a in fieldteam_admins()}
    assert set(apps.get_app_config("fieldteam").get_models()) <= registered


def test_every_changelist_add_and_change_page_renders_for_a_superuser(
    client: Client, world: World, superuser: User
) -> None:
    logged_in(client, superuser)
    assert client.get(reverse("admin:index")).status_code == 200
    for model, model_admin in fieldteam_admins():
        response = client.get(url(model, "changelist"))
        assert response.status_code == 200, model
        assert_no_identifiers(response.content.decode())
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, f"the world fixture has no {model.__name__}"
        response = client.get(url(model, "change", obj.pk))
        assert response.status_code == 200, model
        assert_no_identifiers(response.content.decode())
        request = response.wsgi_request
        if model_admin.has_add_permission(request):
            assert client.get(url(model, "add")).status_code == 200, model
        if model_admin.has_change_permission(request, obj) or model_admin.has_view_permission(request, obj):
            assert client.get(url(model, "history", obj.pk)).status_code == 200, model


@pytest.mark.parametrize("role", [AreaRoleKind.COMMUNE_OFFICER, AreaRoleKind.VIEWER, AreaRoleKind.PROVINCE_OFFICER])
def test_every_page_renders_for_staff_officers(client: Client, world: World, role: str) -> None:
    area = world.tree.province if role == AreaRoleKind.PROVINCE_OFFICER else world.tree.commune
    officer = AreaRoleFactory(area=area, role=role).user
    logged_in(client, officer)
    for model, model_admin in fieldteam_admins():
        response = client.get(url(model, "changelist"))
        if getattr(model_admin, "superuser_only", False):  # the internals refuse officers (test_index.py)
            assert response.status_code == 403, model
            continue
        assert response.status_code == 200, model
        html = response.content.decode()
        assert_no_identifiers(html)
        obj = response.context["cl"].queryset.first()
        if obj is not None:
            response = client.get(url(model, "change", obj.pk))
            assert response.status_code == 200, model
            assert_no_identifiers(response.content.decode())
        expected = 200 if model_admin.has_add_permission(response.wsgi_request) else 403
        assert client.get(url(model, "add")).status_code == expected, model


def test_autocomplete_offers_only_rows_in_scope(client: Client, world: World, commune_officer: User) -> None:
    logged_in(client, commune_officer)

    def found(model_name: str, field_name: str) -> set[str]:
        params = {"app_label": "fieldteam", "model_name": model_name, "field_name": field_name, "term": ""}
        return {r["id"] for r in json.loads(client.get(reverse("admin:autocomplete"), params).content)["results"]}

    assert found("adoption", "resident") == {str(world.resident.pk)}
    assert found("resident", "household") == {str(world.household.pk)}
    assert found("membership", "team") == {str(world.team.pk)}
    assert str(world.other_team.pk) not in found("membership", "team")
    users = found("membership", "user")
    assert str(Membership.objects.get(team=world.team, role=MembershipRole.LEADER).user_id) in users
    assert str(Membership.objects.get(team=world.other_team).user_id) not in users


def test_area_filters_render_for_a_superuser(client: Client, world: World, superuser: User) -> None:
    logged_in(client, superuser)
    tree = world.tree
    response = client.get(url(Resident, "changelist"), {"in_province": tree.province.pk})
    page = response.content.decode()
    assert shows(page, tree.commune.name)  # the communes of the chosen province are offered
    response = client.get(url(Resident, "changelist"), {"in_province": tree.province.pk, "in_commune": tree.commune.pk})
    page = response.content.decode()
    assert shows(page, world.resident.full_name)
    assert not shows(page, world.other_resident.full_name)


def test_the_area_list_links_to_children(client: Client, world: World, superuser: User) -> None:
    logged_in(client, superuser)
    response = client.get(url(Area, "changelist"), {"parent": world.tree.commune.pk})
    page = response.content.decode()
    assert shows(page, world.tree.village.name)
    assert not shows(page, world.tree.other_village.name)


# --- identifiers ----------------------------------------------------------------------------


def test_identifiers_are_shown_only_masked(client: Client, world: World, superuser: User) -> None:
    logged_in(client, superuser)
    resident = world.resident
    assert resident.citizen_id_masked == mask_citizen_id(CCCD)
    pages = {
        "changelist": client.get(url(Resident, "changelist")),
        "change form": client.get(url(Resident, "change", resident.pk)),
        "household inline": client.get(url(Household, "change", world.household.pk)),
        "name search": client.get(url(Resident, "changelist"), {"q": "Linh"}),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        html = response.content.decode()
        assert_no_identifiers(html)
        assert resident.citizen_id_masked in html, name
        assert resident.phone_masked in html, name
    history = client.get(url(Resident, "history", resident.pk))
    assert history.status_code == 200
    assert_no_identifiers(history.content.decode())


def test_the_change_form_never_fills_in_the_identifier_inputs(client: Client, world: World, superuser: User) -> None:
    logged_in(client, superuser)
    form = client.get(url(Resident, "change", world.resident.pk)).context["adminform"].form
    assert not form["citizen_id"].value()
    assert not form["phone"].value()
    assert 'name="citizen_id"' in str(form["citizen_id"]) and "value=" not in str(form["citizen_id"])


def test_exact_citizen_id_search_finds_the_resident_and_a_prefix_does_not(
    client: Client, world: World, superuser: User
) -> None:
    logged_in(client, superuser)
    changelist = url(Resident, "changelist")

    spaced = f"{CCCD[:3]} {CCCD[3:6]} {CCCD[6:]}"
    for term in (CCCD, spaced):
        response = client.get(changelist, {"q": term})
        # The number is swapped for its keyed hash before the page is drawn
        assert response.status_code == 302
        assert CCCD not in response["Location"]
        response = client.get(response["Location"])
        html = response.content.decode()
        assert list(response.context["cl"].result_list) == [world.resident]
        assert_no_identifiers(html)
        assert world.resident.citizen_id_masked in html

    for prefix in (CCCD[:9], CCCD[:11], CCCD[1:]):
        response = client.get(changelist, {"q": prefix}, follow=True)
        assert list(response.context["cl"].result_list) == []


def test_exact_phone_search_finds_the_resident_in_any_written_form(
    client: Client, world: World, superuser: User
) -> None:
    logged_in(client, superuser)
    for term in (PHONE, f"+84{PHONE[1:]}", f"{PHONE[:4]} {PHONE[4:7]} {PHONE[7:]}"):
        response = client.get(url(Resident, "changelist"), {"q": term}, follow=True)
        assert list(response.context["cl"].result_list) == [world.resident], term
        assert_no_identifiers(response.content.decode())
    response = client.get(url(Resident, "changelist"), {"q": PHONE[:7]}, follow=True)
    assert list(response.context["cl"].result_list) == []


def test_autocomplete_finds_a_resident_by_citizen_id_without_showing_it(
    client: Client, world: World, superuser: User
) -> None:
    logged_in(client, superuser)
    params = {"app_label": "fieldteam", "model_name": "adoption", "field_name": "resident"}
    # The admin's pages post what is typed (admin/fieldteam/autocomplete-post.js): not in any URL.
    response = client.post(reverse("admin:autocomplete"), {**params, "term": CCCD})
    data = json.loads(response.content)
    assert [r["id"] for r in data["results"]] == [str(world.resident.pk)]
    assert_no_identifiers(response.content.decode())
    response = client.post(reverse("admin:autocomplete"), {**params, "term": CCCD[:8]})
    assert json.loads(response.content)["results"] == []
    # A number typed into the URL by hand is not searched.
    response = client.get(reverse("admin:autocomplete"), {**params, "term": CCCD})
    assert response.status_code == 200
    assert json.loads(response.content)["results"] == []
    # Names still work by GET (the stock widget outside the admin's pages).
    response = client.get(reverse("admin:autocomplete"), {**params, "term": world.resident.full_name.split()[-1]})
    assert str(world.resident.pk) in [r["id"] for r in json.loads(response.content)["results"]]


def test_autocomplete_posted_without_the_csrf_token_is_refused(world: World, superuser: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    params = {"app_label": "fieldteam", "model_name": "adoption", "field_name": "resident", "term": CCCD}
    assert client.post(reverse("admin:autocomplete"), params).status_code == 403


def test_every_admin_page_with_an_autocomplete_loads_the_posting_script(client: Client, superuser: User) -> None:
    logged_in(client, superuser)
    page = client.get(reverse("admin:fieldteam_adoption_add")).content.decode()
    assert "admin/fieldteam/autocomplete-post.js" in page


# --- resident form through the services -----------------------------------------------------------


def resident_post(village: Area | None, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "village": village.pk if village else "",
        "household": "",
        "full_name": "Ksor Nay",
        "sex": Sex.MALE,
        "birth_date": "",
        "birth_year": 1990,
        "citizen_id": "",
        "phone": "",
        "ethnicity": "",
    }
    data.update(overrides)
    return data


def test_adding_a_resident_goes_through_the_services(client: Client, world: World, superuser: User) -> None:
    logged_in(client, superuser)
    cccd = make_citizen_id(birth_year=1990, sex=Sex.MALE, province_code="064", serial=1)
    response = client.post(
        url(Resident, "add"),
        resident_post(world.tree.village2, citizen_id=cccd, phone="0912 000 111", consent_channel="paper"),
    )
    assert response.status_code == 302
    resident = Resident.objects.get(full_name="Ksor Nay")
    assert resident.village == world.tree.village2
    assert resident.household.head_name == "Ksor Nay"  # a new household, headed by the resident
    assert resident.citizen_id_masked == mask_citizen_id(cccd)
    assert resident.phone_masked == mask_phone("0912000111")
    page = client.get(response["Location"]).content.decode()
    assert cccd not in page and "0912000111" not in page


def test_adding_a_resident_with_a_bad_citizen_id_shows_the_error_on_the_field_and_saves_nothing(
    client: Client, world: World, superuser: User
) -> None:
    logged_in(client, superuser)
    residents, households = Resident.objects.count(), Household.objects.count()
    # A CCCD that encodes a woman born in 1985 for a man born in 1990
    response = client.post(url(Resident, "add"), resident_post(world.tree.village2, citizen_id=CCCD))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "citizen_id" in form.errors
    assert set(form.errors) == {"citizen_id"}
    assert Resident.objects.count() == residents
    assert Household.objects.count() == households  # the new household was rolled back too
    assert CCCD not in response.content.decode()  # not even echoed back into the input

    response = client.post(url(Resident, "add"), resident_post(world.tree.village2, citizen_id="12345"))
    assert "citizen_id" in response.context["adminform"].form.errors
    assert Resident.objects.count() == residents


def test_a_duplicate_citizen_id_is_refused_on_the_field(client: Client, world: World, superuser: User) -> None:
    logged_in(client, superuser)
    response = client.post(
        url(Resident, "add"),
        # With consent: the register is read only after the checks of the person's own data.
        resident_post(
            world.tree.village2,
            full_name="Rơ Mah Trùng",
            sex=Sex.FEMALE,
            birth_year=1985,
            citizen_id=CCCD,
            consent_channel="paper",
        ),
    )
    assert response.status_code == 200
    assert "citizen_id" in response.context["adminform"].form.errors
    assert not Resident.objects.filter(full_name="Rơ Mah Trùng").exists()


def change_post(resident: Resident, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "household": resident.household_id,
        "full_name": resident.full_name,
        "sex": resident.sex,
        "birth_date": resident.birth_date or "",
        "birth_year": resident.birth_year,
        "status": resident.status,
        "left_on": "",
        "citizen_id": "",
        "phone": "",
        "ethnicity": resident.ethnicity,
    }
    data.update(overrides)
    return data


def test_a_blank_identifier_keeps_the_stored_one_and_a_new_one_replaces_it(
    client: Client, world: World, superuser: User
) -> None:
    logged_in(client, superuser)
    resident = world.resident
    response = client.post(url(Resident, "change", resident.pk), change_post(resident, full_name="Rơ Mah Linh"))
    assert response.status_code == 302
    resident.refresh_from_db()
    assert resident.full_name == "Rơ Mah Linh"
    assert resident.citizen_id_masked == mask_citizen_id(CCCD)
    assert resident.phone_masked == mask_phone(PHONE)

    response = client.post(url(Resident, "change", resident.pk), change_post(resident, phone="0387654321"))
    assert response.status_code == 302
    resident.refresh_from_db()
    assert resident.phone_masked == mask_phone("0387654321")

    response = client.post(url(Resident, "change", resident.pk), change_post(resident, clear_phone="on"))
    resident.refresh_from_db()
    assert resident.phone_masked == "" and resident.phone_hash is None


def test_a_departure_and_a_move_go_through_the_services(client: Client, world: World, superuser: User) -> None:
    logged_in(client, superuser)
    resident = world.resident
    new_home = HouseholdFactory(village=world.tree.village2)
    response = client.post(url(Resident, "change", resident.pk), change_post(resident, household=new_home.pk))
    assert response.status_code == 302
    resident.refresh_from_db()
    assert resident.household == new_home and resident.village == world.tree.village2

    response = client.post(url(Resident, "change", resident.pk), change_post(resident, status=ResidentStatus.MOVED_OUT))
    assert response.status_code == 200
    assert "left_on" in response.context["adminform"].form.errors
    response = client.post(
        url(Resident, "change", resident.pk),
        change_post(resident, status=ResidentStatus.MOVED_OUT, left_on="2025-06-01"),
    )
    assert response.status_code == 302
    resident.refresh_from_db()
    assert resident.status == ResidentStatus.MOVED_OUT and resident.left_on == dt.date(2025, 6, 1)


# --- adoptions through the services -------------------------------------------------------------


def test_adding_and_ending_an_adoption_keeps_the_capability_mask(client: Client, world: World, superuser: User) -> None:
    logged_in(client, superuser)
    household = world.household
    response = client.post(
        url(Adoption, "add"),
        {
            "capability": world.household_capability.pk,
            "household": household.pk,
            "resident": "",
            "since": "2025-02-01",
            "source": AdoptionSource.MANUAL,
        },
    )
    assert response.status_code == 302
    household.refresh_from_db()
    assert household.capability_mask & world.household_capability.mask
    adoption = Adoption.objects.get(household=household, capability=world.household_capability)
    assert adoption.recorded_by == superuser

    response = client.post(url(Adoption, "changelist"), {"action": "end_adoptions", "_selected_action": [adoption.pk]})
    assert response.status_code == 302
    household.refresh_from_db()
    adoption.refresh_from_db()
    assert adoption.ended_on is not None
    assert not household.capability_mask & world.household_capability.mask


def test_an_adoption_for_the_wrong_holder_is_refused_on_the_field(
    client: Client, world: World, superuser: User
) -> None:
    logged_in(client, superuser)
    response = client.post(
        url(Adoption, "add"),
        {
            "capability": world.household_capability.pk,
            "resident": world.resident.pk,
            "since": "2025-02-01",
            "source": "manual",
        },
    )
    assert response.status_code == 200
    assert "capability" in response.context["adminform"].form.errors


def test_adoptions_and_events_cannot_be_edited_or_deleted(client: Client, world: World, superuser: User) -> None:
    logged_in(client, superuser)
    for model, obj in ((Adoption, world.adoption), (AssistanceLog, world.log), (TrainingSession, world.session)):
        response = client.post(url(model, "change", obj.pk), {})
        assert response.status_code == 403, model
        assert client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403, model
        assert model._default_manager.filter(pk=obj.pk).exists()
    assert client.get(url(AssistanceLog, "add")).status_code == 403


# --- scoping --------------------------------------------------------------------------------------


def test_a_commune_officer_sees_only_their_commune(client: Client, world: World, commune_officer: User) -> None:
    logged_in(client, commune_officer)
    tree = world.tree
    checks = [
        (Resident, world.resident.full_name, world.other_resident.full_name),
        (Household, world.household.head_name, world.other_household.head_name),
        (Team, world.team.name, world.other_team.name),
        (Area, tree.village.name, tree.other_village.name),
    ]
    for model, mine, theirs in checks:
        response = client.get(url(model, "changelist"))
        assert response.status_code == 200, model
        html = response.content.decode()
        assert shows(html, mine), model
        assert not shows(html, theirs), model
        assert_no_identifiers(html)


def test_a_commune_officer_cannot_open_rows_of_another_commune(
    client: Client, world: World, commune_officer: User
) -> None:
    logged_in(client, commune_officer)
    assert client.get(url(Resident, "change", world.resident.pk)).status_code == 200
    for model, obj in (
        (Resident, world.other_resident),
        (Household, world.other_household),
        (Team, world.other_team),
        (Area, world.tree.other_village),
        (Area, world.tree.far_village),
    ):
        for view in ("change", "history", "delete"):
            response = client.get(url(model, view, obj.pk))
            if view == "delete" and not admin.site._registry[model].has_delete_permission(response.wsgi_request):
                assert response.status_code == 403  # refused for every row alike: nothing is told
                continue
            assert response.status_code in (302, 404), (model, view)
            if response.status_code == 302:
                assert response["Location"] == reverse("admin:index")
    # Searching by the other commune's resident's CCCD finds nothing either
    response = client.get(url(Resident, "changelist"), {"q": OTHER_CCCD}, follow=True)
    assert list(response.context["cl"].result_list) == []


def test_a_commune_officer_cannot_pick_a_village_of_another_commune(
    client: Client, world: World, commune_officer: User
) -> None:
    logged_in(client, commune_officer)
    residents = Resident.objects.count()
    response = client.post(url(Resident, "add"), resident_post(world.tree.other_village))
    assert response.status_code == 200
    assert "village" in response.context["adminform"].form.errors
    # Nor a household there
    response = client.post(url(Resident, "add"), resident_post(None, household=world.other_household.pk))
    assert "household" in response.context["adminform"].form.errors
    assert Resident.objects.count() == residents

    # The autocomplete does not offer it
    params = {"app_label": "fieldteam", "model_name": "resident", "field_name": "village"}
    found = json.loads(client.get(reverse("admin:autocomplete"), {**params, "term": ""}).content)["results"]
    assert {r["id"] for r in found} == {
        str(world.tree.village.pk),
        str(world.tree.village2.pk),
        str(world.tree.commune.pk),
    }

    # In their own commune it works
    response = client.post(url(Resident, "add"), resident_post(world.tree.village2))
    assert response.status_code == 302
    assert Resident.objects.count() == residents + 1


def test_a_commune_officer_needs_no_permission_rows(client: Client, world: World, commune_officer: User) -> None:
    assert not commune_officer.user_permissions.exists() and not commune_officer.groups.exists()
    logged_in(client, commune_officer)
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert url(Resident, "changelist") in index.content.decode()
    # Reference data is visible but not editable
    response = client.get(url(Capability, "change", world.capability.pk))
    assert response.status_code == 200
    assert client.post(url(Capability, "change", world.capability.pk), {}).status_code == 403


def test_a_viewer_can_look_but_not_change(client: Client, world: World) -> None:
    viewer = AreaRoleFactory(area=world.tree.commune, role=AreaRoleKind.VIEWER).user
    logged_in(client, viewer)
    response = client.get(url(Resident, "change", world.resident.pk))
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert_no_identifiers(response.content.decode())
    response = client.post(url(Resident, "change", world.resident.pk), change_post(world.resident, full_name="X"))
    assert response.status_code == 403
    world.resident.refresh_from_db()
    assert world.resident.full_name == "Rơ Mah H'Linh"
    assert client.get(url(Resident, "add")).status_code == 403
    assert client.get(url(Household, "add")).status_code == 403
    assert client.post(url(Team, "change", world.team.pk), {}).status_code == 403


def test_staff_without_an_area_role_see_nothing(client: Client, world: World) -> None:
    staff = MembershipFactory(team=world.team, user__is_staff=True).user
    logged_in(client, staff)
    assert client.get(url(Resident, "changelist")).status_code == 403


def test_a_commune_officer_sees_users_of_their_commune_but_no_superuser(
    client: Client, world: World, commune_officer: User, superuser: User
) -> None:
    logged_in(client, commune_officer)
    leader = Membership.objects.get(team=world.team, role=MembershipRole.LEADER).user
    outsider = Membership.objects.get(team=world.other_team).user
    html = client.get(url(User, "changelist")).content.decode()
    assert shows(html, leader.username)
    assert not shows(html, outsider.username)
    assert client.get(url(User, "change", superuser.pk)).status_code == 302
    page = client.get(url(User, "change", leader.pk)).content.decode()
    assert 'name="is_superuser"' not in page


def test_a_commune_officer_creates_a_member_inside_their_team(
    client: Client, world: World, commune_officer: User
) -> None:
    logged_in(client, commune_officer)
    data = {"username": "new-member", "usable_password": "false", "password1": "", "password2": ""}
    response = client.post(url(User, "add"), data)
    assert response.status_code == 200  # must be placed in a team or area first
    assert not User.objects.filter(username="new-member").exists()
    response = client.post(url(User, "add"), {**data, "team": world.other_team.pk, "team_role": "member"})
    assert "team" in response.context["adminform"].form.errors
    response = client.post(url(User, "add"), {**data, "team": world.team.pk, "team_role": "member"})
    assert response.status_code == 302
    user = User.objects.get(username="new-member")
    assert Membership.objects.filter(user=user, team=world.team).exists()
    assert client.get(url(User, "change", user.pk)).status_code == 200


def test_a_commune_officer_cannot_grant_a_province_officer_role(
    client: Client, world: World, commune_officer: User
) -> None:
    logged_in(client, commune_officer)
    leader = Membership.objects.get(team=world.team, role=MembershipRole.LEADER).user
    response = client.post(
        url(AreaRole, "add"), {"user": leader.pk, "area": world.tree.commune.pk, "role": AreaRoleKind.PROVINCE_OFFICER}
    )
    assert response.status_code == 200
    assert "role" in response.context["adminform"].form.errors


def test_targets_are_edited_by_the_province_officer_only(
    client: Client, world: World, commune_officer: User, province_officer: User
) -> None:
    target = world.target
    data = {
        "indicator": target.indicator_id,
        "area": target.area_id,
        "year": target.year,
        "comparison": target.comparison,
        "value": "85.00",
        "source": target.source,
    }
    logged_in(client, commune_officer)
    assert client.get(url(Target, "change", target.pk)).status_code == 200  # inherited: visible
    assert client.post(url(Target, "change", target.pk), data).status_code == 403
    logged_in(client, province_officer)
    assert client.post(url(Target, "change", target.pk), data).status_code == 302
    target.refresh_from_db()
    assert target.value == Decimal("85.00")
    # A target for another province is out of reach
    far = {**data, "area": world.tree.other_province.pk, "value": "50"}
    response = client.post(url(Target, "add"), far)
    assert response.status_code == 200
    assert "area" in response.context["adminform"].form.errors


def test_a_commune_officer_adds_a_village_to_their_commune_only(
    client: Client, world: World, commune_officer: User
) -> None:
    logged_in(client, commune_officer)
    data = {"code": "V-NEW", "name": "Thôn Mới", "kind": AreaKind.THON, "is_active": "on"}
    response = client.post(url(Area, "add"), {**data, "parent": world.tree.other_commune.pk})
    assert response.status_code == 200
    assert "parent" in response.context["adminform"].form.errors
    response = client.post(url(Area, "add"), {**data, "parent": world.tree.commune.pk, "kind": AreaKind.COMMUNE})
    assert "kind" in response.context["adminform"].form.errors
    response = client.post(url(Area, "add"), {**data, "parent": world.tree.commune.pk})
    assert response.status_code == 302
    village = Area.objects.get(code="V-NEW")
    assert Area.objects.get_parent(village) == world.tree.commune
    assert village.province == world.tree.province
    # The commune itself is official data: viewable, not editable
    assert client.post(url(Area, "change", world.tree.commune.pk), {}).status_code == 403
    # An unused village can be deleted again (treebeard keeps the parent's child count)
    assert client.post(url(Area, "delete", village.pk), {"post": "yes"}).status_code == 302
    assert not Area.objects.filter(code="V-NEW").exists()
    world.tree.commune.refresh_from_db()
    assert world.tree.commune.numchild == 2


def test_a_village_moves_within_its_province_only(client: Client, world: World, superuser: User) -> None:
    logged_in(client, superuser)
    village = world.tree.village2
    data = {"code": village.code, "name": village.name, "kind": village.kind, "is_active": "on"}
    response = client.post(url(Area, "change", village.pk), {**data, "parent": world.tree.far_commune.pk})
    assert "parent" in response.context["adminform"].form.errors
    response = client.post(url(Area, "change", village.pk), {**data, "parent": world.tree.other_commune.pk})
    assert response.status_code == 302
    village.refresh_from_db()
    assert Area.objects.get_parent(village) == world.tree.other_commune


def test_a_commune_officer_adds_a_team_for_their_village(client: Client, world: World, commune_officer: User) -> None:
    logged_in(client, commune_officer)
    data = {
        "name": "Tổ CNS Thôn 2",
        "areas": [world.tree.village2.pk],
        "founded_on": "2025-03-01",
        "decision_ref": "",
        "is_active": "on",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    response = client.post(url(Team, "add"), {**data, "areas": [world.tree.other_village.pk]})
    assert "areas" in response.context["adminform"].form.errors
    response = client.post(url(Team, "add"), data)
    assert response.status_code == 302
    team = Team.objects.get(name="Tổ CNS Thôn 2")
    assert team.province == world.tree.province
    assert list(team.areas.all()) == [world.tree.village2]


def test_reported_values_are_editable_and_computed_ones_are_not(client: Client, world: World, superuser: User) -> None:
    logged_in(client, superuser)
    value = world.value
    response = client.post(url(IndicatorValue, "change", value.pk), {"value": "14.25", "note": "Cục Thống kê"})
    assert response.status_code == 302
    value.refresh_from_db()
    assert value.value == Decimal("14.250") and value.reported_by == superuser
    computed = IndicatorValue.objects.create(
        province=world.tree.province,
        area=world.tree.province,
        indicator=world.target.indicator,
        period_kind=PeriodKind.YEAR,
        period_start=dt.date(2024, 1, 1),
        numerator=1,
        denominator=2,
        value=Decimal("50"),
    )
    assert computed.indicator.kind == IndicatorKind.COMPUTED
    assert client.post(url(IndicatorValue, "change", computed.pk), {"value": "99"}).status_code == 403


def test_reported_values_are_entered_by_the_province_officer(
    client: Client, world: World, commune_officer: User, province_officer: User
) -> None:
    logged_in(client, commune_officer)
    assert client.get(url(IndicatorValue, "change", world.value.pk)).status_code == 302  # province row: out of scope
    assert client.get(url(IndicatorValue, "add")).status_code == 403
    logged_in(client, province_officer)
    response = client.post(url(IndicatorValue, "change", world.value.pk), {"value": "13", "note": ""})
    assert response.status_code == 302
    world.value.refresh_from_db()
    assert world.value.reported_by == province_officer


# --- the other forms ------------------------------------------------------------------------------


def test_a_household_is_registered_through_the_service_within_scope(
    client: Client, world: World, commune_officer: User
) -> None:
    logged_in(client, commune_officer)
    data = {"village": world.tree.village2.pk, "code": "HH-9", "head_name": "Ksor H'Bia", "address": ""}
    response = client.post(url(Household, "add"), {**data, "village": world.tree.other_village.pk})
    assert "village" in response.context["adminform"].form.errors
    response = client.post(url(Household, "add"), data)
    assert response.status_code == 302
    household = Household.objects.get(code="HH-9")
    assert household.province == world.tree.province
    # A code already used in the village is refused on the field
    response = client.post(url(Household, "add"), data)
    assert "code" in response.context["adminform"].form.errors


def test_consent_is_recorded_and_withdrawn(client: Client, world: World, commune_officer: User) -> None:
    logged_in(client, commune_officer)
    response = client.post(
        url(ConsentRecord, "add"),
        {
            "resident": world.resident.pk,
            "purposes": [ConsentPurpose.STATISTICS, ConsentPurpose.CONTACT],
            "channel": ConsentChannel.IN_PERSON,
            "notice_version": "2026-01",
            "given_at_0": "01/02/2026",
            "given_at_1": "09:00:00",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    (consent,) = [c for c in ConsentRecord.objects.filter(resident=world.resident) if "contact" in c.purposes]
    assert consent.recorded_by == commune_officer
    assert consent.province == world.tree.province
    assert consent.purposes == [ConsentPurpose.STATISTICS, ConsentPurpose.CONTACT]
    response = client.post(url(ConsentRecord, "changelist"), {"action": "withdraw", "_selected_action": [consent.pk]})
    assert response.status_code == 302
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None
    assert consent.withdrawn_recorded_by == commune_officer
    # Withdrawal goes through the service: the resident's identifiers are erased.
    world.resident.refresh_from_db()
    assert world.resident.citizen_id_hash is None and world.resident.phone_hash is None


def test_a_consent_to_an_unknown_notice_is_refused(client: Client, world: World, commune_officer: User) -> None:
    logged_in(client, commune_officer)
    before = ConsentRecord.objects.count()
    response = client.post(
        url(ConsentRecord, "add"),
        {
            "resident": world.resident.pk,
            "purposes": [ConsentPurpose.STATISTICS],
            "channel": ConsentChannel.PAPER,
            "notice_version": "1999-01",
            "given_at_0": "01/02/2026",
            "given_at_1": "09:00:00",
        },
    )
    assert response.status_code == 200
    assert "notice_version" in response.context["adminform"].form.errors
    assert ConsentRecord.objects.count() == before


def test_a_capability_added_in_admin_gets_the_next_free_bit(client: Client, world: World, superuser: User) -> None:
    logged_in(client, superuser)
    highest = max(Capability.objects.values_list("bit", flat=True))
    response = client.post(
        url(Capability, "add"),
        {
            "code": "vneid",
            "name": "VNeID level 2",
            "subject": "resident",
            "description": "",
            "sort_order": 5,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert Capability.objects.get(code="vneid").bit == highest + 1


def test_the_team_list_filters_by_an_area_served(client: Client, world: World, superuser: User) -> None:
    logged_in(client, superuser)
    response = client.get(url(Team, "changelist"), {"areas__id__exact": world.tree.village.pk})
    assert list(response.context["cl"].result_list) == [world.team]


def test_a_forged_identifier_hash_finds_nothing(client: Client, world: World, superuser: User) -> None:
    logged_in(client, superuser)
    for value in ("not-a-hash", "0" * 64):
        response = client.get(url(Resident, "changelist"), {"idh": value})
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == []


def test_the_resident_list_costs_the_same_queries_for_one_row_or_many(
    client: Client, world: World, commune_officer: User
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    logged_in(client, commune_officer)
    client.get(url(Resident, "changelist"))  # warm the session and the content types
    with CaptureQueriesContext(connection) as few:
        client.get(url(Resident, "changelist"))
    for n in range(8):
        household = HouseholdFactory(village=world.tree.village2)
        ResidentFactory(household=household, full_name=f"Người {n}", with_ids=True)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url(Resident, "changelist"))
    assert len(response.context["cl"].result_list) == 9
    assert len(many) == len(few)


def test_an_area_filter_out_of_scope_shows_nothing(client: Client, world: World, commune_officer: User) -> None:
    logged_in(client, commune_officer)
    for params in (
        {"in_commune": world.tree.other_commune.pk},
        {"in_village": world.tree.other_village.pk},
        {"in_province": world.tree.other_province.pk},
        {"in_village": "x"},
    ):
        response = client.get(url(Resident, "changelist"), params)
        assert response.status_code == 200, params
        assert list(response.context["cl"].result_list) == [], params
    response = client.get(url(Area, "changelist"), {"parent": world.tree.other_commune.pk})
    assert list(response.context["cl"].result_list) == []
    response = client.get(url(Resident, "changelist"), {"in_village": world.tree.village.pk})
    assert list(response.context["cl"].result_list) == [world.resident]


def test_a_superuser_recomputes_a_province_from_admin(admin_client, area_tree, django_capture_on_commit_callbacks):
    from fieldteam.models import RollupState
    from fieldteam.rollup import recompute

    recompute.recompute_province(province_id=area_tree.province.pk)
    RollupState.objects.filter(pk=area_tree.province.pk).update(last_recompute_at=None)

    with django_capture_on_commit_callbacks(execute=True):  # the task is queued after commit
        response = admin_client.post(
            "/admin/fieldteam/rollupstate/",
            {"action": "recompute_now", "_selected_action": [area_tree.province.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert RollupState.objects.get(pk=area_tree.province.pk).last_recompute_at is not None


def test_changing_an_indicator_definition_rebuilds_the_counts(
    admin_client, area_tree, django_capture_on_commit_callbacks
):
    from fieldteam.models import VillageCount
    from tests.factories import HouseholdFactory, IndicatorFactory, ResidentFactory

    indicator = IndicatorFactory(min_age=18)
    ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_year=2010)  # 16 years old
    assert not VillageCount.objects.filter(indicator=indicator, denominator__gt=0).exists()
    url = f"/admin/fieldteam/indicator/{indicator.pk}/change/"
    data = {
        "code": indicator.code,
        "name": indicator.name,
        "group": indicator.group,
        "kind": indicator.kind,
        "unit": "%",
        "source": "",
        "description": "",
        "sort_order": 100,
        "is_active": "on",
        "capability": indicator.capability_id,
        "population": indicator.population,
        "min_age": 15,
        "max_age": "",
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data, follow=True)

    assert response.status_code == 200
    assert VillageCount.objects.get(indicator=indicator, village=area_tree.village).denominator == 1
