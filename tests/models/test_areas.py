"""The area tree: any depth, fast subtree queries, the province carried on every node."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from fieldteam.choices import AreaKind
from fieldteam.models import Area
from tests.conftest import AreaTree
from tests.factories import AreaFactory, CommuneFactory, ProvinceFactory, VillageFactory

pytestmark = pytest.mark.django_db


def test_a_village_sits_under_its_commune_and_province(area_tree: AreaTree) -> None:
    village = area_tree.village
    assert village.depth == 3
    assert Area.objects.get_parent(village) == area_tree.commune
    assert Area.objects.get_parent(area_tree.commune) == area_tree.province
    assert village.province == area_tree.province
    assert area_tree.commune.province == area_tree.province
    # A province is its own province, so "WHERE province_id = ..." finds it too
    assert area_tree.province.province == area_tree.province
    assert village.is_village
    assert area_tree.commune.is_commune
    assert area_tree.province.is_province


def test_a_subtree_is_one_path_prefix(area_tree: AreaTree) -> None:
    subtree = set(Area.objects.filter(path__startswith=area_tree.commune.path))
    assert subtree == {area_tree.commune, area_tree.village, area_tree.village2}
    assert set(Area.objects.get_tree(area_tree.commune)) == subtree


def test_the_tree_has_no_fixed_depth() -> None:
    # Given an older plan's shape: province → district → commune → village → residential group
    province = ProvinceFactory()
    district = AreaFactory(parent=province, kind=AreaKind.DISTRICT)
    commune = CommuneFactory(parent=district)
    village = VillageFactory(parent=commune)
    group = AreaFactory(parent=village, kind=AreaKind.TO_DAN_PHO)
    # Then every level carries the province and sits in the province's subtree
    for area in (district, commune, village, group):
        assert area.province == province
        assert area.path.startswith(province.path)
    assert group.depth == 5


def test_the_factory_keeps_treebeards_child_counts_right(area_tree: AreaTree) -> None:
    assert area_tree.province.numchild == 2
    assert area_tree.commune.numchild == 2
    assert area_tree.village.numchild == 0
    assert Area.objects.filter(depth=1).count() == 2


def test_area_codes_are_unique_and_names_and_kinds_required(area_tree: AreaTree) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        VillageFactory(parent=area_tree.commune, code=area_tree.village.code)
    with pytest.raises(IntegrityError), transaction.atomic():
        VillageFactory(parent=area_tree.commune, name="")
    with pytest.raises(IntegrityError), transaction.atomic():
        VillageFactory(parent=area_tree.commune, code="")
    with pytest.raises(IntegrityError), transaction.atomic():
        VillageFactory(parent=area_tree.commune, kind="hamlet")
