"""The national targets are Decision 411/QĐ-TTg's, each with the decision's comparison.

"đạt 80%" and a plain figure are ≥ (at_least); "trên", "hơn" are > (more_than); "tối thiểu" is ≥.
Only the figures found in a published text of the decision are loaded (the sources are named in
fixtures/targets.json); the indicators whose national figure was not confirmed are absent.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from fieldteam.choices import TargetComparison
from fieldteam.models import NationalTarget, Target
from fieldteam.services.reference import load_reference

GE, GT = TargetComparison.AT_LEAST, TargetComparison.MORE_THAN

# (indicator, year, value, comparison), as the decision words each target.
EXPECTED = {
    # "tỷ lệ dân số trưởng thành có điện thoại thông minh đạt 80%"; 2030: "đạt 95%"
    ("adults_smartphone", 2025, "80", GE),
    ("adults_smartphone", 2030, "95", GE),
    # "tỷ lệ dân số từ 15 tuổi trở lên có tài khoản giao dịch thanh toán ... đạt 80%"
    ("payment_account_15plus", 2025, "80", GE),
    # "hơn 50% dân số trưởng thành có chữ ký số hoặc chữ ký điện tử cá nhân"
    ("adults_digital_signature", 2025, "50", GT),
    # "tỷ lệ người dân trong độ tuổi lao động được đào tạo kỹ năng số cơ bản đạt trên 70%"
    ("working_age_basic_digital_skills", 2025, "70", GT),
    # "tỷ lệ hộ gia đình được phủ mạng Internet băng rộng cáp quang đạt 80%"
    ("households_fibre_coverage", 2025, "80", GE),
    # "tỷ trọng kinh tế số đạt 20% GDP"; 2030: "đạt 30% GDP"
    ("digital_economy_grdp_share", 2025, "20", GE),
    ("digital_economy_grdp_share", 2030, "30", GE),
    # "tỷ trọng kinh tế số trong từng ngành, lĩnh vực đạt tối thiểu 10%"; 2030: at least 20%
    ("digital_economy_sector_share", 2025, "10", GE),
    ("digital_economy_sector_share", 2030, "20", GE),
    # "tỷ trọng thương mại điện tử trong tổng mức bán lẻ đạt trên 10%"; 2030: "đạt trên 20%"
    ("ecommerce_retail_share", 2025, "10", GT),
    ("ecommerce_retail_share", 2030, "20", GT),
    # "tỷ lệ doanh nghiệp sử dụng hợp đồng điện tử đạt trên 80%"; 2030: reach 100%
    ("enterprises_e_contracts", 2025, "80", GT),
    ("enterprises_e_contracts", 2030, "100", GE),
    # "tỷ lệ doanh nghiệp nhỏ và vừa sử dụng nền tảng số đạt trên 50%"; 2030: over 70%
    ("smes_digital_platforms", 2025, "50", GT),
    ("smes_digital_platforms", 2030, "70", GT),
    # "tỷ lệ nhân lực lao động kinh tế số trong lực lượng lao động đạt trên 2%"; 2030: over 3%
    ("digital_economy_workforce", 2025, "2", GT),
    ("digital_economy_workforce", 2030, "3", GT),
}


def _normalised(rows) -> set[tuple[str, int, Decimal, str]]:
    return {(code, year, Decimal(value).normalize(), comparison) for code, year, value, comparison in rows}


def _loaded() -> set[tuple[str, int, Decimal, str]]:
    rows = NationalTarget.objects.values_list("indicator__code", "year", "value", "comparison")
    return {(code, year, value.normalize(), comparison) for code, year, value, comparison in rows}


@pytest.mark.django_db
def test_the_national_targets_are_the_decisions_exactly():
    result = load_reference()

    assert _loaded() == _normalised(EXPECTED)
    assert result.national_targets.created == len(EXPECTED)
    documents = set(NationalTarget.objects.values_list("document", "adopted_on"))
    assert documents == {("411/QĐ-TTg", date(2022, 3, 31))}
    assert all("411/QĐ-TTg" in source for source in NationalTarget.objects.values_list("source", flat=True))
    # Not applied to any area: the provinces keep their own plans' targets.
    assert not Target.objects.filter(source__contains="411/QĐ-TTg").exists()


@pytest.mark.django_db
def test_loading_again_changes_nothing():
    load_reference()

    again = load_reference()

    assert (again.national_targets.created, again.national_targets.updated, again.national_targets.removed) == (0, 0, 0)
    assert again.national_targets.unchanged == len(EXPECTED)


def _copy_fixtures(tmp_path: Path) -> dict:
    for path in (Path(settings.BASE_DIR) / "fixtures").glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    return json.loads((tmp_path / "targets.json").read_text(encoding="utf-8"))


def _write(tmp_path: Path, document: dict) -> None:
    (tmp_path / "targets.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


@pytest.mark.django_db
def test_a_target_the_file_no_longer_lists_is_dropped_and_a_changed_one_updated(tmp_path: Path):
    document = _copy_fixtures(tmp_path)
    load_reference(fixtures_dir=tmp_path)
    targets = document["national"][0]["targets"]
    document["national"][0]["targets"] = [t for t in targets if t["indicator"] != "digital_economy_workforce"]
    document["national"][0]["targets"][0]["value"] = "81"
    _write(tmp_path, document)

    result = load_reference(fixtures_dir=tmp_path)

    assert (result.national_targets.removed, result.national_targets.updated) == (2, 1)
    assert not NationalTarget.objects.filter(indicator__code="digital_economy_workforce").exists()
    assert NationalTarget.objects.get(indicator__code="adults_smartphone", year=2025).value == Decimal(81)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"indicator": "no_such_indicator"}, "indicator"),
        ({"comparison": "about"}, "comparison"),
        # Check constraints of the table: the row is named, not one field.
        ({"value": "-5"}, None),
        ({"year": 1990}, None),
    ],
)
def test_a_bad_row_names_its_field_and_saves_nothing(tmp_path: Path, change: dict, field: str | None):
    document = _copy_fixtures(tmp_path)
    document["national"][0]["targets"][1].update(change)
    _write(tmp_path, document)

    with pytest.raises(ValidationError) as raised:
        load_reference(fixtures_dir=tmp_path)

    assert "targets.json" in raised.value.message_dict
    messages = raised.value.message_dict["targets.json"]
    assert len(messages) == 1 and " 2" in messages[0]  # the second target of the file
    assert field is None or f"“{field}”" in messages[0]
    assert not NationalTarget.objects.exists()


@pytest.mark.django_db
def test_a_national_plan_without_a_document_is_refused(tmp_path: Path):
    document = _copy_fixtures(tmp_path)
    document["national"][0]["document"] = ""
    _write(tmp_path, document)

    with pytest.raises(ValidationError):
        load_reference(fixtures_dir=tmp_path)

    assert not NationalTarget.objects.exists()


def test_the_fixture_holds_each_target_once():
    document = json.loads((Path(settings.BASE_DIR) / "fixtures" / "targets.json").read_text(encoding="utf-8"))
    rows = [
        (t["indicator"], t["year"], t["value"], t["comparison"])
        for plan in document["national"]
        for t in plan["targets"]
    ]
    assert len(rows) == len(set(rows))
    assert _normalised(rows) == _normalised(EXPECTED)
