"""Holdings by a derivation rule are shown as derived, never as a logged adoption: on the field app's
person and household pages, the admin's "capabilities held", the API and the person-data export."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from rest_framework.test import APIClient

from fieldteam.admin.people import held_capability_names
from fieldteam.choices import AdoptionSource, DerivationKind
from fieldteam.models import Adoption, Household, Resident, User
from fieldteam.selectors.person_data import export_person_data
from fieldteam.services.adoption import set_adoption
from tests.factories import CapabilityDerivationFactory, CapabilityFactory
from tests.web.conftest import WebWorld

pytestmark = pytest.mark.django_db


def vi(message: str, **params: str) -> str:
    with translation.override("vi"):
        return translation.gettext(message) % params if params else translation.gettext(message)


@pytest.fixture
def derived(web_world: WebWorld):
    """Public services imply the Internet; a household has a phone when a member does. Bình uses both sources."""
    public_services = CapabilityFactory(code="online_public_services", name="Dùng dịch vụ công trực tuyến")
    internet = CapabilityFactory(code="internet_use", name="Sử dụng Internet", sort_order=2)
    household_phone = CapabilityFactory(
        code="household_smartphone", name="Hộ có điện thoại thông minh", for_household=True, sort_order=21
    )
    CapabilityDerivationFactory(kind=DerivationKind.IMPLIES, source=public_services, target=internet)
    CapabilityDerivationFactory(any_member=True, source=web_world.smartphone, target=household_phone)
    binh = web_world.residents[2]
    for capability in (public_services, web_world.smartphone):
        set_adoption(actor=None, capability=capability, since=dt.date(2025, 3, 1), source=AdoptionSource.SURVEY, resident=binh)
    return {"resident": binh, "internet": internet, "household_phone": household_phone, "services": public_services}


def capability_line(content: str, code: str) -> str:
    start = content.index(f'data-code="{code}"')
    return content[content.rindex("<li", 0, start) : content.index("</li>", start)]


def test_the_field_pages_show_derived_holdings_as_derived(web_world: WebWorld, derived) -> None:
    client = Client()
    client.force_login(web_world.member)

    page = client.get(reverse("web:resident", args=[derived["resident"].pk])).content.decode()
    internet = capability_line(page, "internet_use")
    assert "held derived" in internet
    assert vi("derived from: %(names)s", names="Dùng dịch vụ công trực tuyến") in internet
    assert "has it since" not in internet and vi("has it since %(date)s", date="") not in internet
    assert 'class="cap held"' in capability_line(page, "online_public_services")  # adopted: held since

    page = client.get(reverse("web:household", args=[web_world.household.pk])).content.decode()
    phone = capability_line(page, "household_smartphone")
    assert vi("held through a household member") in phone
    assert "held derived" in phone
    assert vi("held through a household member") not in capability_line(page, "fibre_broadband")
    # No adoption was written for either: they were never logged.
    assert not Adoption.objects.filter(capability__in=[derived["internet"], derived["household_phone"]]).exists()


def test_the_admin_says_how_a_derived_capability_is_held(web_world: WebWorld, derived) -> None:
    binh = Resident.objects.get(pk=derived["resident"].pk)
    household = Household.objects.get(pk=web_world.household.pk)

    with translation.override("en"):
        assert held_capability_names(binh.capability_mask, "resident") == (
            "Có điện thoại thông minh, Dùng dịch vụ công trực tuyến, "
            "Sử dụng Internet (derived from: Dùng dịch vụ công trực tuyến)"
        )
        assert held_capability_names(household.capability_mask, "household", household.derived_mask) == (
            "Hộ có điện thoại thông minh (held through a household member)"
        )


def test_the_api_lists_derived_capabilities_apart(web_world: WebWorld, derived, superuser: User) -> None:
    client = APIClient()
    client.force_authenticate(superuser)

    resident = client.get(f"/api/v1/residents/{derived['resident'].pk}/").json()
    assert sorted(resident["capabilities"]) == ["online_public_services", "smartphone"]
    assert resident["derived_capabilities"] == ["internet_use"]
    household = client.get(f"/api/v1/households/{web_world.household.pk}/").json()
    assert household["capabilities"] == []
    assert household["derived_capabilities"] == ["household_smartphone"]


def test_the_person_data_export_lists_derived_holdings_apart_from_adoptions(derived, superuser: User) -> None:
    data = export_person_data(actor=superuser, resident=derived["resident"])

    assert sorted(a["capability"] for a in data["adoptions"]) == ["Có điện thoại thông minh", "Dùng dịch vụ công trực tuyến"]
    assert data["derived_holdings"] == [
        {"capability": "Sử dụng Internet", "derived_from": ["Dùng dịch vụ công trực tuyến"]}
    ]
