"""Village kinds as the lists write them: every kind of DESIGN.md §6, with or without diacritics,
in any case; a local word none of them matches is kept, under the generic kind of its place."""

from __future__ import annotations

import unicodedata

import pytest
from django.utils import translation

from fieldteam.choices import VILLAGE_KINDS, AreaKind
from fieldteam.exports import export_rows
from fieldteam.imports.engine import import_file
from fieldteam.models import Area
from fieldteam.resources import VillageResource
from fieldteam.village_kinds import read_village_kind
from tests.factories import CommuneFactory
from tests.imports.conftest import write_csv, write_xlsx

HEADERS = ["Mã xã", "Mã thôn", "Tên thôn", "Loại"]

# DESIGN.md §6: "thôn, bản, làng, buôn, plei, bon, ấp, sóc, xóm, khóm, tổ dân phố, khu phố, khối
# phố, tiểu khu, khu vực".
DESIGN_KINDS = {
    "thôn": AreaKind.THON,
    "bản": AreaKind.BAN,
    "làng": AreaKind.LANG,
    "buôn": AreaKind.BUON,
    "plei": AreaKind.PLEI,
    "bon": AreaKind.BON,
    "ấp": AreaKind.AP,
    "sóc": AreaKind.SOC,
    "xóm": AreaKind.XOM,
    "khóm": AreaKind.KHOM,
    "tổ dân phố": AreaKind.TO_DAN_PHO,
    "khu phố": AreaKind.KHU_PHO,
    "khối phố": AreaKind.KHOI_PHO,
    "tiểu khu": AreaKind.TIEU_KHU,
    "khu vực": AreaKind.KHU_VUC,
}


def _ascii(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word.replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@pytest.mark.parametrize("word", sorted(DESIGN_KINDS))
def test_every_kind_reads_with_or_without_diacritics_in_any_case(word):
    kind = DESIGN_KINDS[word]
    for written in (word, word.upper(), word.title(), _ascii(word), _ascii(word).upper(), f"  {word.title()} "):
        assert read_village_kind(written, in_ward=False) == (kind, ""), written
    assert kind in VILLAGE_KINDS


def test_an_unknown_word_is_kept_under_the_generic_kind_of_its_place():
    assert read_village_kind("phum", in_ward=False) == (AreaKind.THON, "Phum")
    assert read_village_kind("cụm dân cư", in_ward=True) == (AreaKind.TO_DAN_PHO, "Cụm dân cư")


@pytest.fixture
def communes(area_tree) -> tuple[Area, Area]:
    commune = CommuneFactory(parent=area_tree.province, code="23764", name="Xã Ia Grai", kind=AreaKind.COMMUNE)
    ward = CommuneFactory(parent=area_tree.province, code="23575", name="Phường Pleiku", kind=AreaKind.WARD)
    return commune, ward


@pytest.mark.django_db
def test_the_import_takes_every_design_kind_and_keeps_a_local_word(communes, tmp_path):
    rows = [["23575", f"KP-{i:02d}", f"Khu {i}", word] for i, word in enumerate(["Khoi pho", "khối phố", "KHỐI PHỐ"])]
    rows += [["23764", f"V-{i:02d}", f"Thôn {i}", _ascii(word).upper()] for i, word in enumerate(sorted(DESIGN_KINDS))]
    rows += [["23764", "L-01", "Phum Srae", "Phum"], ["23575", "L-02", "Cụm 3", "cụm dân cư"]]

    report = import_file(kind="villages", path=write_xlsx(tmp_path / "v.xlsx", HEADERS, rows), actor=None).report

    assert report.ok, report.errors
    stored = dict(Area.objects.filter(depth=3).values_list("code", "kind"))
    assert {stored[f"KP-{i:02d}"] for i in range(3)} == {AreaKind.KHOI_PHO}
    assert [stored[f"V-{i:02d}"] for i in range(len(DESIGN_KINDS))] == [DESIGN_KINDS[w] for w in sorted(DESIGN_KINDS)]
    local = {a.code: (a.kind, a.kind_label) for a in Area.objects.filter(code__startswith="L-")}
    assert local == {"L-01": (AreaKind.THON, "Phum"), "L-02": (AreaKind.TO_DAN_PHO, "Cụm dân cư")}

    # The export writes the kind as the list did (its own word where it had one); it reads back unchanged.
    resource = VillageResource()
    exported = {row[1]: row[3] for row in resource.iter_export_rows(export_rows(kind="villages", actor=None), "csv")}
    assert (exported["KP-00"], exported["L-01"], exported["L-02"]) == ("Khối phố", "Phum", "Cụm dân cư")
    again = import_file(
        kind="villages",
        path=write_csv(tmp_path / "w.csv", HEADERS, [["23764", "L-01", "Phum Srae", exported["L-01"]]]),
        actor=None,
    ).report
    assert again.counts["villages_updated"] == 0


@pytest.mark.django_db
def test_a_word_that_names_no_kind_is_refused_naming_row_and_column_and_nothing_is_saved(communes, tmp_path):
    rows = [
        ["23764", "B-01", "Thôn 1", "Thôn"],
        ["23764", "B-02", "Thôn 2", "12"],
        ["23764", "B-03", "Thôn 3", "x" * 41],
    ]
    with translation.override("vi"):
        report = import_file(kind="villages", path=write_xlsx(tmp_path / "v.xlsx", HEADERS, rows), actor=None).report

    assert {(e.row, e.column) for e in report.errors} == {(3, "Loại"), (4, "Loại")}
    assert all(e.message and "Write" not in e.message for e in report.errors)  # in Vietnamese
    assert not Area.objects.filter(code__startswith="B-").exists()
