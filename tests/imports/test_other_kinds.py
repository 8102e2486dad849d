"""Importing villages, households, teams, members, targets and reported indicator values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from fieldteam.choices import AreaKind, AreaRoleKind, MembershipRole, TargetComparison
from fieldteam.imports.base import ImportOptions
from fieldteam.imports.engine import import_file
from fieldteam.models import Area, Household, IndicatorValue, Membership, Target, Team, User
from fieldteam.periods import Period, today
from fieldteam.rollup import recompute
from tests.factories import AreaRoleFactory, CommuneFactory, IndicatorFactory, MembershipFactory, TeamFactory
from tests.imports.conftest import write_csv, write_xlsx

pytestmark = pytest.mark.django_db

VILLAGE_HEADERS = ["Mã xã", "Mã thôn", "Tên thôn", "Loại"]


# --- villages --------------------------------------------------------------------------------------------


@pytest.fixture
def official_commune(area_tree) -> Area:
    """A commune with an official 5-digit code, under the tree's province."""
    return CommuneFactory(parent=area_tree.province, code="23764", name="Xã Ia Grai (mới)")


def test_villages_are_created_under_their_commune_by_official_code(official_commune, tmp_path):
    rows = [
        ["23764", "23764-01", "Làng Dơr 1", "Làng"],
        [23764, "23764-02", "Tổ dân phố 2", "to dan pho"],  # the code as a number, the kind without accents
    ]
    report = import_file(
        kind="villages", path=write_xlsx(tmp_path / "v.xlsx", VILLAGE_HEADERS, rows), actor=None
    ).report

    assert report.ok and report.counts["villages_new"] == 2
    villages = Area.objects.filter(code__startswith="23764-").order_by("code")
    assert [(v.name, v.kind) for v in villages] == [
        ("Làng Dơr 1", AreaKind.LANG),
        ("Tổ dân phố 2", AreaKind.TO_DAN_PHO),
    ]
    official_commune.refresh_from_db()
    assert all(v.path.startswith(official_commune.path) and v.depth == official_commune.depth + 1 for v in villages)
    assert not any(Area.objects.find_problems())

    again = import_file(kind="villages", path=tmp_path / "v.xlsx", actor=None).report
    assert again.ok and again.counts == {"villages_new": 0, "villages_existing": 2, "villages_updated": 0}


def test_a_renamed_village_is_updated_not_duplicated(official_commune, tmp_path):
    import_file(
        kind="villages",
        path=write_csv(tmp_path / "v.csv", VILLAGE_HEADERS, [["23764", "23764-01", "Làng Dơr", "Làng"]]),
        actor=None,
    )
    report = import_file(
        kind="villages",
        path=write_csv(tmp_path / "w.csv", VILLAGE_HEADERS, [["23764", "23764-01", "Làng Dơr 1", "Thôn"]]),
        actor=None,
    ).report
    assert report.counts["villages_updated"] == 1
    village = Area.objects.get(code="23764-01")
    assert (village.name, village.kind) == ("Làng Dơr 1", AreaKind.THON)


def test_bad_village_rows_name_row_and_column(official_commune, area_tree, tmp_path):
    rows = [
        ["99999", "X-1", "Thôn X", "Thôn"],  # unknown commune
        [area_tree.village.code, "X-2", "Thôn Y", "Thôn"],  # a village, not a commune
        ["23764", area_tree.village.code, "Thôn Z", "Thôn"],  # code used by a village of another commune
        ["23764", "X-4", "", "Thôn"],  # no name
        ["23764", "X-5", "Thôn W", "12"],  # no word for a kind (an unknown word is kept: test_village_kinds.py)
        ["23764", "X-6", "Thôn V", "Bản"],
        ["23764", "X-6", "Thôn V", "Bản"],  # twice
    ]
    report = import_file(
        kind="villages", path=write_xlsx(tmp_path / "v.xlsx", VILLAGE_HEADERS, rows), actor=None
    ).report
    assert {(e.row, e.column, e.code) for e in report.errors} == {
        (2, "Mã xã", "unknown_commune"),
        (3, "Mã xã", "not_a_commune"),
        (4, "Mã thôn", "code_taken"),
        (5, "Tên thôn", "required"),
        (6, "Loại", "invalid"),
        (7, "Mã thôn", "duplicate_in_file"),
        (8, "Mã thôn", "duplicate_in_file"),
    }
    assert not Area.objects.filter(code__startswith="X-").exists()


def test_a_commune_officer_adds_villages_to_their_commune_only(area_tree, commune_officer, tmp_path):
    rows = [
        [area_tree.commune.code, "N-1", "Thôn Mới", "Thôn"],
        [area_tree.other_commune.code, "N-2", "Thôn Khác", "Thôn"],
    ]
    area_tree.commune.kind = AreaKind.COMMUNE
    path = write_xlsx(tmp_path / "v.xlsx", VILLAGE_HEADERS, rows)
    report = import_file(
        kind="villages", path=path, actor=commune_officer, options=ImportOptions(skip_invalid=True)
    ).report
    assert [(e.row, e.code) for e in report.errors] == [(3, "out_of_scope")]
    assert list(Area.objects.filter(code__startswith="N-").values_list("code", flat=True)) == ["N-1"]


# --- households ------------------------------------------------------------------------------------------


def test_households_alone_with_their_capabilities(area_tree, catalogue, tmp_path):
    headers = [
        "Mã thôn",
        "Mã hộ",
        "Chủ hộ",
        "Địa chỉ",
        "Hộ có cáp quang [fibre_broadband]",
        "Hộ có cáp quang – ngày [fibre_broadband]",
    ]
    rows = [
        [area_tree.village.code, "H1", "Đinh Văn A", "", "có", dt.date(2024, 2, 2)],
        [area_tree.village.code, "H2", "Siu H'Blin", "", "", None],
    ]
    report = import_file(kind="households", path=write_xlsx(tmp_path / "h.xlsx", headers, rows), actor=None).report
    assert report.ok and report.counts["households_new"] == 2 and report.counts["adoptions_new"] == 1
    assert Household.objects.get(code="H1").capability_mask == catalogue.fibre.mask
    assert recompute.recompute_province(province_id=area_tree.province.pk).drift == []
    again = import_file(kind="households", path=tmp_path / "h.xlsx", actor=None).report
    assert again.counts == {"households_new": 0, "households_existing": 2, "adoptions_new": 0}


# --- teams and members -----------------------------------------------------------------------------------

TEAM_HEADERS = ["Mã thôn", "Tên tổ", "Ngày thành lập", "Số quyết định"]
MEMBER_HEADERS = [
    "Mã thôn",
    "Tên tổ",
    "Tên đăng nhập",
    "Họ",
    "Tên",
    "Số điện thoại",
    "Vai trò",
    "Thành phần",
    "Ngày bắt đầu",
    "Ngày kết thúc",
]


def test_teams_are_created_once_with_the_villages_they_serve(area_tree, tmp_path):
    rows = [
        [area_tree.village.code, "", dt.date(2023, 3, 1), "12/QĐ-UBND"],
        [f"{area_tree.village2.code}, {area_tree.other_village.code}", "Tổ liên thôn", "01/04/2023", ""],
    ]
    path = write_xlsx(tmp_path / "t.xlsx", TEAM_HEADERS, rows)
    report = import_file(kind="teams", path=path, actor=None).report
    assert report.ok and report.counts == {"teams_new": 2, "teams_existing": 0}
    first = Team.objects.get(areas=area_tree.village)
    assert first.name == f"Tổ công nghệ số cộng đồng {area_tree.village.name}" and first.province == area_tree.province
    assert set(Team.objects.get(name="Tổ liên thôn").areas.all()) == {area_tree.village2, area_tree.other_village}
    assert import_file(kind="teams", path=path, actor=None).report.counts == {"teams_new": 0, "teams_existing": 2}
    assert Team.objects.count() == 2


def test_a_team_across_provinces_or_founded_in_the_future_is_refused(area_tree, tmp_path):
    rows = [
        [f"{area_tree.village.code},{area_tree.far_village.code}", "A", dt.date(2023, 1, 1), ""],
        [area_tree.village.code, "B", today() + dt.timedelta(days=3), ""],
    ]
    report = import_file(kind="teams", path=write_xlsx(tmp_path / "t.xlsx", TEAM_HEADERS, rows), actor=None).report
    assert {(e.row, e.column, e.code) for e in report.errors} == {
        (2, "Mã thôn", "several_provinces"),
        (3, "Ngày thành lập", "future"),
    }


def test_members_are_added_to_the_team_of_their_village(area_tree, team, tmp_path):
    existing = MembershipFactory(team=team, role=MembershipRole.MEMBER).user
    rows = [
        [
            area_tree.village.code,
            "",
            "totruong.01",
            "Rơ Mah",
            "Bình",
            "0912345678",
            "Tổ trưởng",
            "Trưởng thôn",
            dt.date(2024, 1, 1),
            None,
        ],
        [
            area_tree.village.code,
            "",
            existing.username,
            "",
            "",
            "",
            "tổ phó",
            "Đoàn thanh niên",
            dt.date(2024, 1, 1),
            None,
        ],
    ]
    path = write_xlsx(tmp_path / "m.xlsx", MEMBER_HEADERS, rows)
    report = import_file(kind="members", path=path, actor=None).report
    assert report.ok, [e.text() for e in report.errors]
    assert report.counts == {"users_new": 1, "memberships_new": 1, "memberships_existing": 1}
    leader = User.objects.get(username="totruong.01")
    assert not leader.has_usable_password() and leader.phone_display == "0912345678"
    assert Membership.objects.get(user=leader).role == MembershipRole.LEADER
    assert Membership.objects.get(user=existing).role == MembershipRole.DEPUTY
    again = import_file(kind="members", path=path, actor=None).report
    assert again.counts["memberships_new"] == 0 and Membership.objects.count() == 2


def test_bad_member_rows(area_tree, team, tmp_path, commune_officer):
    far_member = MembershipFactory(team=TeamFactory(village=area_tree.far_village)).user
    rows = [
        ["KHONG", "", "a.b", "", "", "", "", "", dt.date(2024, 1, 1), None],
        [area_tree.village2.code, "", "c.d", "", "", "", "", "", dt.date(2024, 1, 1), None],  # no team there
        [area_tree.village.code, "", "bad name!", "", "", "", "", "", dt.date(2024, 1, 1), None],
        [area_tree.village.code, "", "e.f", "", "", "12", "trưởng", "", dt.date(2024, 1, 1), dt.date(2023, 1, 1)],
        [area_tree.village.code, "", far_member.username, "", "", "", "", "", dt.date(2024, 1, 1), None],
    ]
    report = import_file(
        kind="members", path=write_xlsx(tmp_path / "m.xlsx", MEMBER_HEADERS, rows), actor=commune_officer
    ).report
    assert {(e.row, e.column, e.code) for e in report.errors} == {
        (2, "Mã thôn", "unknown_village"),
        (3, "Mã thôn", "no_team"),
        (4, "Tên đăng nhập", "invalid_username"),
        (5, "Số điện thoại", "phone_format"),
        (5, "Vai trò", "invalid"),
        (5, "Ngày kết thúc", "before_start"),
        (6, "Tên đăng nhập", "user_out_of_scope"),
    }


# --- targets and reported values -------------------------------------------------------------------------

TARGET_HEADERS = ["Mã chỉ tiêu", "Mã địa bàn", "Năm", "Giá trị", "So sánh", "Kế hoạch"]
VALUE_HEADERS = ["Mã chỉ tiêu", "Mã địa bàn", "Kỳ", "Giá trị", "Ghi chú"]


def test_targets_are_upserted_by_indicator_area_and_year(area_tree, catalogue, tmp_path):
    code = catalogue.adults_smartphone.code
    rows = [
        [code, area_tree.province.code, 2025, 80, "≥", "KH 1331"],
        [code, area_tree.province.code, 2030, "95,5", ">", ""],
    ]
    path = write_xlsx(tmp_path / "t.xlsx", TARGET_HEADERS, rows)
    assert import_file(kind="targets", path=path, actor=None).report.counts == {"targets_new": 2, "targets_existing": 0}
    target = Target.objects.get(year=2030)
    assert (target.value, target.comparison) == (Decimal("95.50"), TargetComparison.MORE_THAN)
    assert import_file(kind="targets", path=path, actor=None).report.counts == {"targets_new": 0, "targets_existing": 2}


def test_targets_are_set_by_the_province_officer_only(
    area_tree, catalogue, tmp_path, commune_officer, province_officer
):
    rows = [
        [catalogue.adults_smartphone.code, area_tree.commune.code, 2025, 80, "", ""],
        ["khong-co", area_tree.commune.code, 2025, 101, "", ""],
    ]
    path = write_xlsx(tmp_path / "t.xlsx", TARGET_HEADERS, rows)
    report = import_file(kind="targets", path=path, actor=commune_officer).report
    assert {(e.row, e.code) for e in report.errors} == {
        (2, "out_of_scope"),
        (3, "unknown_indicator"),
        (3, "out_of_scope"),
    }
    report = import_file(
        kind="targets", path=path, actor=province_officer, options=ImportOptions(skip_invalid=True)
    ).report
    assert report.written and Target.objects.count() == 1


def test_reported_values_go_through_the_roll_up_service(area_tree, tmp_path, province_officer):
    grdp = IndicatorFactory(reported=True, code="digital_economy_grdp_share")
    rows = [
        [grdp.code, area_tree.province.code, "2025", "12,5", "Cục Thống kê"],
        [grdp.code, area_tree.province.code, f"{today().year + 1}", "1", ""],
    ]
    path = write_xlsx(tmp_path / "v.xlsx", VALUE_HEADERS, rows)
    report = import_file(kind="indicator_values", path=path, actor=province_officer).report
    assert [(e.row, e.column, e.code) for e in report.errors] == [(3, "Kỳ", "future")]
    report = import_file(
        kind="indicator_values", path=path, actor=province_officer, options=ImportOptions(skip_invalid=True)
    ).report
    value = IndicatorValue.objects.get()
    assert (value.value, value.reported_by, value.period_start) == (
        Decimal("12.500"),
        province_officer,
        Period.parse("2025").start,
    )


def test_reported_values_need_a_user_and_a_reported_indicator(area_tree, catalogue, tmp_path, superuser):
    rows = [[catalogue.adults_smartphone.code, area_tree.province.code, "2025", "50", ""]]
    path = write_xlsx(tmp_path / "v.xlsx", VALUE_HEADERS, rows)
    assert import_file(kind="indicator_values", path=path, actor=None).report.refused
    report = import_file(kind="indicator_values", path=path, actor=superuser).report
    assert [(e.row, e.code) for e in report.errors] == [(2, "computed")]


def test_a_viewer_cannot_import_targets(area_tree, catalogue, tmp_path):
    viewer = AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.VIEWER).user
    path = write_xlsx(
        tmp_path / "t.xlsx",
        TARGET_HEADERS,
        [[catalogue.adults_smartphone.code, area_tree.province.code, 2025, 80, "", ""]],
    )
    assert import_file(kind="targets", path=path, actor=viewer).report.refused
