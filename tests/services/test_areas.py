"""The official admin units, villages and the capability catalogue (fieldteam.services.areas)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import translation
from vietnam_provinces import Ward

from fieldteam.choices import COMMUNE_KINDS, PROVINCE_KINDS, AreaKind, CapabilitySubject
from fieldteam.models import Area, Capability
from fieldteam.models.capabilities import MAX_CAPABILITY_BIT
from fieldteam.services.areas import AdminUnitsResult, create_capability, create_village, load_admin_units

GIA_LAI = "52"
SON_LA = "14"
HA_NOI = "01"

NO_PROBLEMS = ([], [], [], [], [])


def _tree_state() -> list[tuple]:
    return list(
        Area.objects.order_by("code").values_list("code", "name", "kind", "path", "depth", "numchild", "province")
    )


def _tree_problems() -> list[str]:
    """The checks of treebeard's ``find_problems`` in one query (it makes two per node).

    Paths made of steps of the alphabet, a parent for every node, depth matching the path,
    numchild matching the children.
    """
    rows = list(Area.objects.values_list("path", "depth", "numchild"))
    paths = {path for path, _depth, _numchild in rows}
    children: dict[str, int] = {}
    problems = []
    for path, depth, _numchild in rows:
        if len(path) % Area.steplen or any(char not in Area.alphabet for char in path):
            problems.append(f"bad path {path}")
        parent = path[: -Area.steplen]
        if parent and parent not in paths:
            problems.append(f"orphan {path}")
        children[parent] = children.get(parent, 0) + 1
        if depth != len(path) // Area.steplen:
            problems.append(f"depth {path}")
    problems += [f"numchild {path}" for path, _depth, numchild in rows if numchild != children.get(path, 0)]
    return problems


def _assert_sorted_siblings(parent: Area | None) -> None:
    siblings = Area.objects.get_root_nodes() if parent is None else Area.objects.get_children(parent)
    codes = list(siblings.values_list("code", flat=True))
    assert codes == sorted(codes)


@pytest.mark.slow  # find_problems makes two queries per node
@pytest.mark.django_db
def test_load_admin_units_loads_34_provinces_and_3321_communes_as_a_valid_tree():
    result = load_admin_units()

    assert result == AdminUnitsResult(provinces_created=34, communes_created=3321)
    assert Area.objects.filter(kind__in=PROVINCE_KINDS).count() == 34
    assert Area.objects.filter(kind__in=COMMUNE_KINDS).count() == 3321
    assert Area.objects.filter(kind=AreaKind.CITY).count() == 6
    assert Area.objects.filter(kind=AreaKind.SPECIAL_ZONE).count() == 13
    gia_lai, son_la = Area.objects.get(code=GIA_LAI), Area.objects.get(code=SON_LA)
    assert (gia_lai.name, gia_lai.kind, gia_lai.numchild, gia_lai.depth) == ("Gia Lai", AreaKind.PROVINCE, 135, 1)
    assert son_la.numchild == 75
    assert Area.objects.filter(province=gia_lai, kind__in=COMMUNE_KINDS).count() == 135
    assert Area.objects.filter(province=son_la, kind__in=COMMUNE_KINDS).count() == 75
    # Official codes, zero-padded; a province is its own province.
    ha_noi = Area.objects.get(code=HA_NOI)
    assert (ha_noi.kind, ha_noi.province_id) == (AreaKind.CITY, ha_noi.pk)
    hoan_kiem = Area.objects.get(code="00070")
    assert (hoan_kiem.name, hoan_kiem.kind, hoan_kiem.province_id, hoan_kiem.depth) == (
        "Phường Hoàn Kiếm",
        AreaKind.WARD,
        ha_noi.pk,
        2,
    )
    assert not Area.objects.filter(province__isnull=True).exists()
    assert Area.objects.find_problems() == NO_PROBLEMS
    assert _tree_problems() == []
    _assert_sorted_siblings(None)
    _assert_sorted_siblings(gia_lai)


@pytest.mark.django_db
def test_a_second_run_changes_nothing():
    load_admin_units()
    before = _tree_state()

    result = load_admin_units()

    assert (result.created, result.updated) == (0, 0)
    assert _tree_state() == before


@pytest.mark.django_db
def test_a_changed_name_or_kind_is_updated():
    load_admin_units(province_codes=[SON_LA])
    Area.objects.filter(code=SON_LA).update(name="Sơn La (cũ)")
    commune = Area.objects.filter(province__code=SON_LA, kind=AreaKind.COMMUNE).first()
    Area.objects.filter(pk=commune.pk).update(name="Old name", kind=AreaKind.WARD)

    result = load_admin_units(province_codes=[SON_LA])

    assert result == AdminUnitsResult(provinces_updated=1, communes_updated=1)
    commune.refresh_from_db()
    assert (commune.kind, commune.name) != (AreaKind.WARD, "Old name")
    assert Area.objects.get(code=SON_LA).name == "Sơn La"


@pytest.mark.django_db
def test_province_subset_then_the_rest_keeps_the_tree_valid_and_ordered():
    result = load_admin_units(province_codes=["52"])
    assert result == AdminUnitsResult(provinces_created=1, communes_created=135)
    assert Area.objects.count() == 1 + 135

    # Sơn La sorts before Gia Lai: it goes in between, and Gia Lai's subtree moves with it.
    load_admin_units(province_codes=["14", "1"])  # "1" is Hà Nội's code unpadded
    assert set(Area.objects.filter(kind__in=PROVINCE_KINDS).values_list("code", flat=True)) == {"01", "14", "52"}
    result = load_admin_units()

    assert result == AdminUnitsResult(provinces_created=31, communes_created=3321 - 135 - 75 - 126)
    assert Area.objects.count() == 34 + 3321
    assert _tree_problems() == []
    _assert_sorted_siblings(None)
    gia_lai = Area.objects.get(code=GIA_LAI)
    assert Area.objects.get_children(gia_lai).count() == 135
    assert Area.objects.find_problems(parent=gia_lai) == NO_PROBLEMS


@pytest.mark.django_db
def test_subtree_of_a_province_is_its_communes():
    load_admin_units(province_codes=[GIA_LAI, SON_LA])
    gia_lai = Area.objects.get(code=GIA_LAI)

    codes = set(Area.objects.get_descendants(gia_lai).values_list("code", flat=True))

    official = {f"{int(w.code):05d}" for w in Ward.iter_all() if int(w.province_code) == int(GIA_LAI)}
    assert len(official) == 135
    assert codes == official


@pytest.mark.django_db
def test_a_commune_missing_between_others_is_inserted_in_order_and_villages_move_with_their_commune():
    load_admin_units(province_codes=[SON_LA])
    son_la = Area.objects.get(code=SON_LA)
    communes = list(Area.objects.get_children(son_la))
    missing, later = communes[10], communes[20]
    village = create_village(actor=None, commune=later, code="SL-V1", name="Bản Mòng", kind=AreaKind.BAN)
    Area.objects.filter(pk=missing.pk).delete()

    result = load_admin_units(province_codes=[SON_LA])

    assert result == AdminUnitsResult(communes_created=1)
    assert Area.objects.find_problems() == NO_PROBLEMS
    _assert_sorted_siblings(son_la)
    village.refresh_from_db()
    assert village.is_descendant_of(Area.objects.get(code=later.code))


@pytest.mark.django_db
def test_unknown_province_code_saves_nothing():
    with pytest.raises(ValidationError) as caught:
        load_admin_units(province_codes=[SON_LA, "99"])

    assert "province_codes" in caught.value.message_dict
    assert not Area.objects.exists()


@pytest.mark.django_db
def test_an_official_code_used_by_another_kind_of_area_is_an_error_and_saves_nothing():
    load_admin_units(province_codes=[SON_LA])
    commune = Area.objects.filter(province__code=SON_LA, kind=AreaKind.COMMUNE).first()
    create_village(actor=None, commune=commune, code="00070", name="Thôn trùng mã", kind=AreaKind.THON)
    before = Area.objects.count()

    with pytest.raises(ValidationError) as caught:
        load_admin_units(province_codes=[HA_NOI])

    assert "code" in caught.value.message_dict
    assert Area.objects.count() == before


@pytest.mark.django_db
def test_command_loads_the_provinces_asked_for():
    out = StringIO()
    with translation.override("en"):
        call_command("load_admin_units", "--province", GIA_LAI, "--province", SON_LA, stdout=out)

    assert "Provinces: 2 created, 0 updated. Communes: 210 created, 0 updated." in out.getvalue()
    assert Area.objects.count() == 2 + 210


# --- villages ------------------------------------------------------------------------------------


@pytest.fixture
def commune(db) -> Area:
    load_admin_units(province_codes=[SON_LA])
    return Area.objects.filter(province__code=SON_LA, kind=AreaKind.COMMUNE).order_by("code").first()


def test_create_village_under_a_commune(commune: Area):
    village = create_village(actor=None, commune=commune, code=" SL-001 ", name=" Bản Lướt ", kind=AreaKind.BAN)

    village.refresh_from_db()
    commune.refresh_from_db()
    assert (village.code, village.name, village.kind) == ("SL-001", "Bản Lướt", AreaKind.BAN)
    assert village.province == Area.objects.get(code=SON_LA)
    assert village.is_child_of(commune)
    assert commune.numchild == 1
    assert Area.objects.find_problems(parent=commune) == NO_PROBLEMS


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": AreaKind.COMMUNE}, "kind"),
        ({"kind": "village"}, "kind"),
        ({"code": "  "}, "code"),
        ({"name": ""}, "name"),
        ({"code": "SL-001"}, "code"),  # taken by the first village
        ({"code": SON_LA}, "code"),  # taken by the province
    ],
)
def test_create_village_errors_name_the_field_and_save_nothing(commune: Area, kwargs: dict, field: str):
    create_village(actor=None, commune=commune, code="SL-001", name="Bản Lướt", kind=AreaKind.BAN)
    before = _tree_state()

    with pytest.raises(ValidationError) as caught:
        create_village(actor=None, commune=commune, **{"code": "SL-002", "name": "Bản Mới", "kind": AreaKind.BAN, **kwargs})

    assert list(caught.value.message_dict) == [field]
    assert _tree_state() == before


# --- capabilities --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_capabilities_get_the_next_bit_and_a_freed_bit_is_not_reused():
    first = create_capability(code="smartphone", name="Điện thoại thông minh", subject=CapabilitySubject.RESIDENT)
    second = create_capability(code="fibre", name="Cáp quang", subject=CapabilitySubject.HOUSEHOLD, sort_order=5)
    assert (first.bit, second.bit) == (0, 1)
    assert second.sort_order == 5

    first.delete()
    third = create_capability(code="telehealth", name="Khám chữa bệnh từ xa", subject=CapabilitySubject.RESIDENT)

    assert third.bit == 2


@pytest.mark.django_db
def test_a_province_capability():
    load_admin_units(province_codes=[SON_LA])
    son_la = Area.objects.get(code=SON_LA)
    commune = Area.objects.get_children(son_la).first()

    capability = create_capability(code="sl-app", name="Ứng dụng Sơn La", subject="resident", province=son_la)
    assert capability.province == son_la
    with pytest.raises(ValidationError) as caught:
        create_capability(code="commune-app", name="Ứng dụng xã", subject="resident", province=commune)
    assert list(caught.value.message_dict) == ["province"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"code": "smartphone"}, "code"),
        ({"code": "not a slug"}, "code"),
        ({"subject": "village"}, "subject"),
        ({"name": ""}, "name"),
    ],
)
@pytest.mark.django_db
def test_create_capability_errors_name_the_field(kwargs: dict, field: str):
    create_capability(code="smartphone", name="Điện thoại thông minh", subject=CapabilitySubject.RESIDENT)

    with pytest.raises(ValidationError) as caught:
        create_capability(**{"code": "new", "name": "Mới", "subject": CapabilitySubject.RESIDENT, **kwargs})

    assert list(caught.value.message_dict) == [field]
    assert Capability.objects.count() == 1


@pytest.mark.django_db
def test_a_full_catalogue_is_an_error():
    Capability.objects.bulk_create(
        [Capability(code=f"c{bit}", name=f"C {bit}", subject="resident", bit=bit) for bit in (0, MAX_CAPABILITY_BIT)]
    )

    with pytest.raises(ValidationError) as caught:
        create_capability(code="one-more", name="Thêm", subject=CapabilitySubject.RESIDENT)

    assert caught.value.error_dict["code"][0].code == "catalogue_full"
    assert Capability.objects.count() == 2
