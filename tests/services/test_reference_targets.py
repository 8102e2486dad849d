"""The seed plans' targets are exactly DESIGN.md §3's table, each with the plan's comparison.

"đạt 80%" and a plain figure are ≥ (at_least); "trên"/">" is > (more_than); "tối thiểu" is ≥.
Every target of the table is here and nothing else is loaded.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from fieldteam.choices import IndicatorKind, PopulationKind, TargetComparison
from fieldteam.models import Area, Indicator, Plan, PlanTarget, Target
from fieldteam.services.reference import load_reference

GIA_LAI, SON_LA = "52", "14"
GE, GT = TargetComparison.AT_LEAST, TargetComparison.MORE_THAN

# (indicator, province, year, value, comparison), as DESIGN.md §3 words each plan.
EXPECTED = {
    # tỷ lệ dân số trưởng thành có điện thoại thông minh: 80% / 95%
    ("adults_smartphone", GIA_LAI, 2025, "80", GE),
    ("adults_smartphone", GIA_LAI, 2030, "95", GE),
    # tỷ lệ hộ gia đình có điện thoại thông minh (Sơn La): 96.52%
    ("households_smartphone", SON_LA, 2025, "96.52", GE),
    # tài khoản thanh toán, từ 15 tuổi: 80% / >95% ; Sơn La 80%
    ("payment_account_15plus", GIA_LAI, 2025, "80", GE),
    ("payment_account_15plus", GIA_LAI, 2030, "95", GT),
    ("payment_account_15plus", SON_LA, 2025, "80", GE),
    # chữ ký số: >50% / >70%
    ("adults_digital_signature", GIA_LAI, 2025, "50", GT),
    ("adults_digital_signature", GIA_LAI, 2030, "70", GT),
    # kỹ năng số cơ bản, độ tuổi lao động: >70% / >80%
    ("working_age_basic_digital_skills", GIA_LAI, 2025, "70", GT),
    ("working_age_basic_digital_skills", GIA_LAI, 2030, "80", GT),
    # hộ gia đình được phủ băng rộng cáp quang / cố định: 80% / 100% ; Sơn La 80%
    ("households_fibre_coverage", GIA_LAI, 2025, "80", GE),
    ("households_fibre_coverage", GIA_LAI, 2030, "100", GE),
    ("households_fibre_coverage", SON_LA, 2025, "80", GE),
    # dịch vụ công trực tuyến: >50% / >70%
    ("adults_online_public_services", GIA_LAI, 2025, "50", GT),
    ("adults_online_public_services", GIA_LAI, 2030, "70", GT),
    # tư vấn sức khỏe trực tuyến, khám chữa bệnh từ xa: >30% / >50%
    ("adults_telehealth", GIA_LAI, 2025, "30", GT),
    ("adults_telehealth", GIA_LAI, 2030, "50", GT),
    # tỷ lệ người sử dụng Internet (Sơn La): 48.56%
    ("internet_users", SON_LA, 2025, "48.56", GE),
    # Digital economy, Gia Lai: ≥20% of GRDP by 2025 and 30% by 2030
    ("digital_economy_grdp_share", GIA_LAI, 2025, "20", GE),
    ("digital_economy_grdp_share", GIA_LAI, 2030, "30", GE),
    # ≥10% in each sector (≥20% by 2030)
    ("digital_economy_sector_share", GIA_LAI, 2025, "10", GE),
    ("digital_economy_sector_share", GIA_LAI, 2030, "20", GE),
    # e-commerce >10% of retail (>20% by 2030)
    ("ecommerce_retail_share", GIA_LAI, 2025, "10", GT),
    ("ecommerce_retail_share", GIA_LAI, 2030, "20", GT),
    # enterprises using e-contracts >80% (100%)
    ("enterprises_e_contracts", GIA_LAI, 2025, "80", GT),
    ("enterprises_e_contracts", GIA_LAI, 2030, "100", GE),
    # SMEs on digital platforms >50% (>70%)
    ("smes_digital_platforms", GIA_LAI, 2025, "50", GT),
    ("smes_digital_platforms", GIA_LAI, 2030, "70", GT),
    # digital-economy workforce >2% of the labour force (>3%)
    ("digital_economy_workforce", GIA_LAI, 2025, "2", GT),
    ("digital_economy_workforce", GIA_LAI, 2030, "3", GT),
    # Sơn La 2025: ≥10% of GRDP, ≥15% in each sector, 4G/5G coverage 99.56%
    ("digital_economy_grdp_share", SON_LA, 2025, "10", GE),
    ("digital_economy_sector_share", SON_LA, 2025, "15", GE),
    ("mobile_4g5g_coverage", SON_LA, 2025, "99.56", GE),
}

PLANS = {
    GIA_LAI: ("1331/KH-UBND", date(2022, 6, 22)),
    SON_LA: ("811/QĐ-UBND", date(2024, 5, 4)),
}


def _normalised(rows) -> set[tuple[str, str, int, Decimal, str]]:
    return {(code, area, year, Decimal(value).normalize(), comparison) for code, area, year, value, comparison in rows}


def _loaded_targets() -> set[tuple[str, str, int, Decimal, str]]:
    rows = Target.objects.values_list("indicator__code", "area__code", "year", "value", "comparison")
    return {(code, area, year, value.normalize(), comparison) for code, area, year, value, comparison in rows}


@pytest.mark.django_db
def test_the_loaded_targets_are_the_plans_table_exactly():
    load_reference()

    assert _loaded_targets() == _normalised(EXPECTED)
    # Each plan holds its own targets, and each target on a province is its plan's, in force from its date.
    for province, (document, adopted_on) in PLANS.items():
        plan = Plan.objects.get(province__code=province)
        assert (plan.document, plan.adopted_on) == (document, adopted_on)
        held = {
            (code, province, year, value.normalize(), comparison)
            for code, year, value, comparison in PlanTarget.objects.filter(plan=plan).values_list(
                "indicator__code", "year", "value", "comparison"
            )
        }
        assert held == {row for row in _normalised(EXPECTED) if row[1] == province}
        applied = Target.objects.filter(area__code=province)
        assert set(applied.values_list("plan_id", "effective_from", "source")) == {(plan.pk, adopted_on, plan.name)}


@pytest.mark.django_db
def test_the_indicators_the_table_names_are_defined_as_the_plans_define_them():
    load_reference()
    indicators = {i.code: i for i in Indicator.objects.all()}

    assert {code for code, *_ in EXPECTED} <= set(indicators)
    internet = indicators["internet_users"]  # share of the whole population
    assert (internet.population, internet.min_age, internet.max_age) == (PopulationKind.RESIDENTS, None, None)
    assert indicators["households_smartphone"].population == PopulationKind.HOUSEHOLDS
    # Fibre coverage (the network reaches the house, whether or not it subscribes) is a household
    # fact recorded on a visit or imported from a telecom's list; the subscription is another.
    fibre = indicators["households_fibre_coverage"]
    assert (fibre.kind, fibre.population, fibre.capability.code) == (
        IndicatorKind.COMPUTED,
        PopulationKind.HOUSEHOLDS,
        "fibre_coverage",
    )
    assert indicators["households_fibre_broadband"].capability.code == "fibre_broadband"
    # Mobile coverage is measured by the network operators, never by households: reported.
    assert indicators["mobile_4g5g_coverage"].kind == IndicatorKind.REPORTED


@pytest.mark.django_db
def test_a_database_loaded_before_plans_existed_is_corrected(tmp_path: Path):
    """The targets an older targets.json loaded (no plan, wrong comparisons, subscription instead of
    coverage) are taken over by the plan and put right; nothing is left over."""
    fixtures = Path(settings.BASE_DIR) / "fixtures"
    for path in fixtures.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    load_reference()
    gia_lai = Area.objects.get(code=GIA_LAI)
    broadband = Indicator.objects.get(code="households_fibre_broadband")
    source = Plan.objects.get(province=gia_lai).name
    # As the older loader left them: no plan, its name as source.
    Target.objects.update(plan=None)
    Plan.objects.all().delete()
    Target.objects.filter(indicator__code="smes_digital_platforms", year=2030).update(comparison=GE)
    Target.objects.create(indicator=broadband, area=gia_lai, year=2030, value=Decimal("100"), source=source)

    load_reference()

    assert _loaded_targets() == _normalised(EXPECTED)
    assert not Target.objects.filter(plan=None).exists()


def test_the_fixture_holds_each_table_row_once():
    plans = json.loads((Path(settings.BASE_DIR) / "fixtures" / "targets.json").read_text(encoding="utf-8"))["plans"]
    rows = [
        (t["indicator"], plan["area"], t["year"], t["value"], t["comparison"])
        for plan in plans
        for t in plan["targets"]
    ]
    assert len(rows) == len(set(rows))
    assert _normalised(rows) == _normalised(EXPECTED)
