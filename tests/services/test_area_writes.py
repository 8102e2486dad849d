"""Creating, changing and moving areas, and changing households, through the services (issue 14 item 7).

Villages: an officer of the place; official units: a superuser; moves within a province. Bad input
is refused naming the field, with nothing saved; moves also as a request runs them.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from fieldteam.choices import AreaKind, AreaRoleKind
from fieldteam.models import Area, AuditEntry, Household
from fieldteam.services import areas, people
from tests.factories import AreaRoleFactory, HouseholdFactory


def _tree() -> list[tuple]:
    return list(Area.objects.order_by("pk").values_list("pk", "code", "name", "kind", "path", "numchild"))


def _refused(call, **kwargs) -> dict[str, list[str]]:
    before = (_tree(), AuditEntry.objects.count())
    with pytest.raises(ValidationError) as refused:
        call(**kwargs)
    assert (_tree(), AuditEntry.objects.count()) == before
    return {field: [e.code for e in errors] for field, errors in refused.value.error_dict.items()}


@pytest.mark.django_db
def test_a_commune_officer_adds_and_renames_a_village(area_tree, commune_officer) -> None:
    village = areas.create_area(
        actor=commune_officer, parent=area_tree.commune, code="V-9", name="Thôn 9", kind=AreaKind.THON
    )
    assert Area.objects.get_parent(village) == area_tree.commune
    village = areas.update_area(actor=commune_officer, area=village, name="Thôn Chín")
    assert Area.objects.get(pk=village.pk).name == "Thôn Chín"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field", "code"),
    [
        ({"parent": None}, "parent", "required"),
        ({"code": "  "}, "code", "required"),
        ({"name": ""}, "name", "required"),
        ({"code": "taken"}, "code", "duplicate_code"),
        ({"kind": AreaKind.COMMUNE}, "kind", "read_only"),
        ({"kind": AreaKind.PROVINCE, "parent": None}, "kind", "read_only"),
    ],
)
def test_a_bad_area_is_refused_naming_the_field(area_tree, commune_officer, kwargs, field, code) -> None:
    if kwargs.get("code") == "taken":
        kwargs = {**kwargs, "code": area_tree.village.code}
    values = {"parent": area_tree.commune, "code": "V-9", "name": "Thôn 9", "kind": AreaKind.THON, **kwargs}
    assert code in _refused(areas.create_area, actor=commune_officer, **values)[field]


@pytest.mark.django_db
def test_viewers_and_outsiders_add_no_village(area_tree) -> None:
    viewer = AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.VIEWER).user
    outsider = AreaRoleFactory(area=area_tree.far_commune).user
    values = {"parent": area_tree.commune, "code": "V-9", "name": "Thôn 9", "kind": AreaKind.THON}
    assert _refused(areas.create_area, actor=viewer, **values) == {"parent": ["read_only"]}
    assert _refused(areas.create_area, actor=outsider, **values) == {"parent": ["out_of_scope"]}


@pytest.mark.django_db
def test_official_units_are_a_superusers(area_tree, commune_officer, superuser) -> None:
    assert _refused(areas.update_area, actor=commune_officer, area=area_tree.commune, name="X") == {
        "parent": ["read_only"]
    }
    province = areas.create_area(actor=superuser, parent=None, code="99", name="Tỉnh Mới", kind=AreaKind.PROVINCE)
    assert province.province_id == province.pk


@pytest.mark.django_db(transaction=True)
def test_moves_stay_in_the_province_and_in_reach(area_tree, commune_officer, province_officer) -> None:
    tree = area_tree
    assert _refused(areas.move_area, actor=province_officer, area=tree.village2, parent=tree.far_commune) == {
        "parent": ["out_of_scope"]
    }
    assert _refused(areas.move_area, actor=commune_officer, area=tree.village2, parent=tree.other_commune) == {
        "parent": ["out_of_scope"]
    }
    assert _refused(areas.move_area, actor=None, area=tree.commune, parent=tree.village) == {
        "parent": ["move_into_self"]
    }
    assert _refused(areas.move_area, actor=None, area=tree.village2, parent=tree.far_commune) == {
        "parent": ["move_across_provinces"]
    }
    moved = areas.move_area(actor=province_officer, area=tree.village2, parent=tree.other_commune)
    assert Area.objects.get_parent(moved) == tree.other_commune


@pytest.mark.django_db
def test_a_household_is_changed_by_whoever_may_write_in_its_village(area_tree, commune_officer) -> None:
    household = HouseholdFactory(village=area_tree.village, code="H-1")
    HouseholdFactory(village=area_tree.village, code="H-2")
    people.update_household(actor=commune_officer, household=household, head_name=" nguyễn  văn a ", address=" X ")
    household.refresh_from_db()
    assert household.address == "X"
    viewer = AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.VIEWER).user
    for actor, kwargs, expected in [
        (viewer, {"address": "Y"}, {"village": ["read_only"]}),
        (commune_officer, {"code": "H-2"}, {"code": ["duplicate"]}),
    ]:
        before = list(Household.objects.order_by("pk").values_list("code", "head_name", "address"))
        with pytest.raises(ValidationError) as refused:
            people.update_household(actor=actor, household=household, **kwargs)
        assert {f: [e.code for e in es] for f, es in refused.value.error_dict.items()} == expected
        assert list(Household.objects.order_by("pk").values_list("code", "head_name", "address")) == before
