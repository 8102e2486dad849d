"""Reference data from fixtures/ (fieldteam.services.reference)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import translation

from fieldteam.choices import COMMUNE_KINDS, CapabilitySubject, IndicatorKind, PopulationKind, Sex, TargetComparison
from fieldteam.models import Area, Capability, CapabilityDerivation, Indicator, RetirementAge, Target
from fieldteam.services.areas import create_capability, load_admin_units
from fieldteam.services.reference import load_reference

FIXTURES = Path(settings.BASE_DIR) / "fixtures"
GIA_LAI = "52"
SON_LA = "14"


def _target(indicator: str, area: str, year: int) -> Target:
    return Target.objects.get(indicator__code=indicator, area__code=area, year=year)


def _counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Area, Capability, Indicator, RetirementAge, Target))


@pytest.fixture
def fixtures_copy(tmp_path: Path) -> Path:
    for path in FIXTURES.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def _edit(path: Path, change) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


@pytest.mark.django_db
def test_load_reference_on_an_empty_database_loads_everything_and_the_target_provinces():
    result = load_reference()

    assert result.admin_units is not None
    assert (result.admin_units.provinces_created, result.admin_units.communes_created) == (2, 135 + 75)
    assert Area.objects.filter(province__code=GIA_LAI, kind__in=COMMUNE_KINDS).count() == 135
    assert (result.capabilities.created, result.retirement_ages.created) == (14, 9 + 16)
    assert result.derivations.created == 4
    assert (result.indicators.created, result.targets.created) == (18, 33)

    # The catalogue: Vietnamese names stored, bits in file order.
    smartphone = Capability.objects.get(code="smartphone")
    assert (smartphone.name, smartphone.bit, smartphone.subject) == ("Có điện thoại thông minh", 0, "resident")
    assert Capability.objects.get(code="fibre_broadband").subject == CapabilitySubject.HOUSEHOLD
    assert sorted(Capability.objects.values_list("bit", flat=True)) == list(range(14))
    # Issue 15: coverage is a household fact of its own, the subscription stays another.
    coverage = Indicator.objects.get(code="households_fibre_coverage")
    assert (coverage.kind, coverage.capability.code, coverage.population) == ("computed", "fibre_coverage", "households")
    assert Capability.objects.get(code="e_health_record").subject == CapabilitySubject.RESIDENT
    derived = set(CapabilityDerivation.objects.values_list("kind", "source__code", "target__code"))
    assert ("any_member", "smartphone", "household_smartphone") in derived
    assert ("implies", "telehealth", "internet_use") in derived
    assert not any(target == "telehealth" for _kind, _source, target in derived)

    # Indicators: the age bound is part of the definition.
    payment = Indicator.objects.get(code="payment_account_15plus")
    assert (payment.capability.code, payment.population, payment.min_age) == ("payment_account", "residents", 15)
    assert Indicator.objects.get(code="adults_telehealth").min_age == 18
    assert Indicator.objects.get(code="working_age_basic_digital_skills").population == PopulationKind.WORKING_AGE
    internet = Indicator.objects.get(code="internet_users")
    assert (internet.min_age, internet.max_age) == (None, None)
    grdp = Indicator.objects.get(code="digital_economy_grdp_share")
    assert (grdp.kind, grdp.capability, grdp.population) == (IndicatorKind.REPORTED, None, "")

    # The seed plans' targets (DESIGN.md §3).
    target = _target("payment_account_15plus", GIA_LAI, 2030)
    assert (target.value, target.comparison) == (Decimal("95"), TargetComparison.MORE_THAN)
    target = _target("adults_smartphone", GIA_LAI, 2025)
    assert (target.value, target.comparison) == (Decimal("80"), TargetComparison.AT_LEAST)
    # The plans' broadband target is coverage (DESIGN.md §3).
    assert _target("households_fibre_coverage", GIA_LAI, 2030).value == Decimal("100")
    assert _target("households_fibre_coverage", SON_LA, 2025).value == Decimal("80")
    assert not Target.objects.filter(indicator__code="households_fibre_broadband").exists()
    assert _target("households_smartphone", SON_LA, 2025).value == Decimal("96.52")
    assert _target("internet_users", SON_LA, 2025).value == Decimal("48.56")
    assert "811" in _target("internet_users", SON_LA, 2025).source
    assert not Target.objects.filter(area__code=SON_LA, year=2030).exists()

    # Decree 135/2020, Appendix I, by birth cohort: the ends of the two ramps and the 2025 cohorts.
    ages = {(r.sex, r.born_from): r.age_months for r in RetirementAge.objects.all()}
    assert ages[(Sex.MALE, date(1961, 1, 1))] == 60 * 12 + 3
    assert ages[(Sex.MALE, date(1964, 1, 1))] == 61 * 12 + 3  # reach it in 2025 (DESIGN.md §6)
    assert ages[(Sex.MALE, date(1966, 4, 1))] == 62 * 12
    assert ages[(Sex.FEMALE, date(1966, 1, 1))] == 55 * 12 + 4
    assert ages[(Sex.FEMALE, date(1968, 9, 1))] == 56 * 12 + 8  # reach it in 2025
    assert ages[(Sex.FEMALE, date(1975, 5, 1))] == 60 * 12


@pytest.mark.django_db
def test_a_second_run_changes_nothing():
    load_reference()
    before = _counts()
    bits = dict(Capability.objects.values_list("code", "bit"))

    result = load_reference()

    assert result.changed == 0
    assert result.admin_units is None
    assert result.targets.unchanged == 33
    assert _counts() == before
    assert dict(Capability.objects.values_list("code", "bit")) == bits


@pytest.mark.django_db
def test_rows_are_matched_on_codes_and_changed_values_are_updated():
    # A province's own capability came first and holds bit 0; the catalogue's smartphone
    # already exists under another name.
    create_capability(code="local-app", name="Ứng dụng địa phương", subject=CapabilitySubject.RESIDENT)
    create_capability(code="smartphone", name="ĐTTM", subject=CapabilitySubject.RESIDENT)
    load_admin_units()

    result = load_reference()

    assert result.admin_units is None  # the provinces were there already
    assert (result.capabilities.created, result.capabilities.updated) == (13, 1)
    smartphone = Capability.objects.get(code="smartphone")
    assert (smartphone.name, smartphone.bit) == ("Có điện thoại thông minh", 1)
    assert Capability.objects.get(code="local-app").bit == 0

    Target.objects.filter(indicator__code="adults_telehealth", area__code=GIA_LAI, year=2030).update(
        value=Decimal("1"), comparison=TargetComparison.AT_LEAST
    )
    result = load_reference()
    assert (result.targets.updated, result.changed) == (1, 1)
    target = _target("adults_telehealth", GIA_LAI, 2030)
    assert (target.value, target.comparison) == (Decimal("50"), TargetComparison.MORE_THAN)


@pytest.mark.django_db
def test_a_capability_held_by_another_subject_is_not_changed():
    create_capability(code="smartphone", name="ĐTTM", subject=CapabilitySubject.HOUSEHOLD)

    with translation.override("en"):
        with pytest.raises(ValidationError) as caught:
            load_reference()
        message = caught.value.messages[0]

    assert message.startswith("capabilities.json, row 1, field “subject”")
    assert Capability.objects.count() == 1
    assert not Area.objects.exists()


@pytest.mark.django_db
def test_bad_rows_are_reported_by_file_row_and_field_and_nothing_is_saved(fixtures_copy: Path):
    def break_targets(document):
        document["plans"][0]["targets"][1]["value"] = "lots"
        document["plans"][0]["targets"][2]["indicator"] = "no_such_indicator"
        document["plans"][0]["targets"][3]["comparison"] = "about"

    _edit(fixtures_copy / "targets.json", break_targets)

    # Messages render when read: read them in English too.
    with translation.override("en"):
        with pytest.raises(ValidationError) as caught:
            load_reference(fixtures_dir=fixtures_copy)
        messages = caught.value.message_dict["targets.json"]

    assert len(messages) == 3
    assert messages[0].startswith("targets.json, row 2, field “value”")
    assert messages[1].startswith("targets.json, row 3, field “indicator”")
    assert messages[2].startswith("targets.json, row 4, field “comparison”")
    assert _counts() == (0, 0, 0, 0, 0)


@pytest.mark.django_db
def test_an_indicator_that_is_neither_computed_nor_reported_is_an_error(fixtures_copy: Path):
    def break_indicator(document):
        document["indicators"][0]["capability"] = None

    _edit(fixtures_copy / "indicators.json", break_indicator)

    with translation.override("en"):
        with pytest.raises(ValidationError) as caught:
            load_reference(fixtures_dir=fixtures_copy)
        message = caught.value.messages[0]

    assert list(caught.value.message_dict) == ["indicators.json"]
    assert "row 1" in message
    assert not Capability.objects.exists()


@pytest.mark.django_db
def test_a_missing_file_is_named(fixtures_copy: Path):
    (fixtures_copy / "retirement_ages.json").unlink()

    with pytest.raises(ValidationError) as caught:
        load_reference(fixtures_dir=fixtures_copy)

    assert list(caught.value.message_dict) == ["retirement_ages.json"]


def test_fixture_files_are_consistent():
    capabilities = json.loads((FIXTURES / "capabilities.json").read_text(encoding="utf-8"))["capabilities"]
    indicators = json.loads((FIXTURES / "indicators.json").read_text(encoding="utf-8"))["indicators"]
    plans = json.loads((FIXTURES / "targets.json").read_text(encoding="utf-8"))["plans"]
    capability_codes = [c["code"] for c in capabilities]
    indicator_codes = [i["code"] for i in indicators]

    assert len(set(capability_codes)) == len(capability_codes)
    assert len(set(indicator_codes)) == len(indicator_codes)
    assert all(c["name"] and c["name_vi"] for c in capabilities)
    assert {i["capability"] for i in indicators if i["capability"]} <= set(capability_codes)
    for plan in plans:
        keys = [(t["indicator"], t["year"]) for t in plan["targets"]]
        assert len(set(keys)) == len(keys), plan["area"]
        assert {t["indicator"] for t in plan["targets"]} <= set(indicator_codes)


@pytest.mark.django_db
def test_command_prints_the_counts():
    out = StringIO()
    with translation.override("en"):
        call_command("load_reference", stdout=out)
        call_command("load_reference", stdout=out)

    output = out.getvalue()
    assert "Provinces loaded for the targets: 2, with 210 communes." in output
    assert "Targets: 33 created, 0 updated, 0 unchanged." in output
    assert "Targets: 0 created, 0 updated, 33 unchanged." in output
