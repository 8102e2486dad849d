"""The reasons endpoints (issue 17): counts and lists, area names and counts only, offices only, 404 elsewhere."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from fieldteam.choices import NotDoneReason
from fieldteam.selectors import reasons
from tests.conftest import AreaTree
from tests.selectors.test_reasons import OFFICE_ROLES, Field, office_sees, office_users

PAPERS = reasons.resident_measure(NotDoneReason.MISSING_DOCUMENTS)


@pytest.fixture
def field(area_tree: AreaTree) -> Field:
    """Village 1: 6 people lacking papers (one of them also without a device); village 2: 2 households without signal."""
    field = Field(area_tree)
    people = field.people(area_tree.village, 6)
    for person in people:
        field.log(person, "2026-09-03", (field.phone, NotDoneReason.MISSING_DOCUMENTS))
    field.log(people[0], "2026-09-04", (field.account, NotDoneReason.NO_DEVICE))
    for resident in (field.people(area_tree.village2, 1)[0], field.people(area_tree.village2, 1)[0]):
        field.log(resident, "2026-09-05", (field.phone, NotDoneReason.NO_SIGNAL))
    return field


def test_the_counts_of_a_commune(field: Field, client_for) -> None:
    users = office_users(field.tree, field)
    response = client_for(users["commune_officer"]).get(
        reverse("api:area-reasons", kwargs={"pk": field.tree.commune.pk}), {"period": "2026-09"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["period"] == "2026-09"
    assert [m["key"] for m in body["measures"]] == list(reasons.MEASURES)
    assert body["total"]["area_name"] == "Xã Ia Grai"
    assert body["total"]["counts"][PAPERS] == 6
    by_village = {row["area_name"]: row["counts"] for row in body["children"]}
    assert by_village["Thôn 1"][PAPERS] == 6
    # 2 households without signal: small, hidden in the village and the commune (which is its sum).
    assert by_village["Thôn 2"][reasons.HOUSEHOLDS_WITHOUT_SIGNAL] is None
    assert body["total"]["counts"][reasons.HOUSEHOLDS_WITHOUT_SIGNAL] is None
    assert by_village["Thôn 1"][reasons.HOUSEHOLDS_WITHOUT_SIGNAL] == 0


def test_a_list_names_villages_and_counts_only(field: Field, client_for) -> None:
    users = office_users(field.tree, field)
    response = client_for(users["province_officer"]).get(
        reverse("api:area-reason-list", kwargs={"pk": field.tree.province.pk}),
        {"list": reasons.MISSING_DOCUMENTS_LIST, "period": "2026-09"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["villages"] == [{"commune": "Xã Ia Grai", "village": "Thôn 1", "count": 6}]
    assert body["measure"] == PAPERS
    text = json.dumps(body, ensure_ascii=False)
    for person in field.tree.village.residents.all():
        assert person.full_name not in text
        assert person.household.code not in text


@pytest.mark.parametrize(
    ("query", "field_name"),
    [({}, "list"), ({"list": "nobody"}, "list"), ({"list": "no_signal", "period": "2026-13"}, "period")],
)
def test_bad_input_is_a_400_naming_the_parameter(field: Field, client_for, query, field_name) -> None:
    users = office_users(field.tree, field)
    response = client_for(users["superuser"]).get(
        reverse("api:area-reason-list", kwargs={"pk": field.tree.commune.pk}), query
    )
    assert response.status_code == 400
    assert field_name in response.json()["errors"]


@pytest.mark.parametrize("role", OFFICE_ROLES)
def test_every_role_against_both_routes(field: Field, client_for, role) -> None:
    tree = field.tree
    user = office_users(tree, field)[role]
    client = client_for(user)
    missing = {
        name: client.get(reverse(name, kwargs={"pk": 987654321}), {"list": "no_signal"})
        for name in ("api:area-reasons", "api:area-reason-list")
    }
    for area in (tree.province, tree.commune, tree.village, tree.other_commune, tree.other_province, tree.far_village):
        for name in ("api:area-reasons", "api:area-reason-list"):
            response = client.get(reverse(name, kwargs={"pk": area.pk}), {"list": "no_signal"})
            if office_sees(role, tree, area):
                assert response.status_code == 200, (role, area.name, name)
            else:
                assert (response.status_code, response.json()) == (404, missing[name].json()), (role, area.name, name)
