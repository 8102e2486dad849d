"""Fixtures of the import/export tests: a small capability catalogue with indicators, real files."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation
from openpyxl import Workbook

from fieldteam.choices import PopulationKind, Sex
from fieldteam.models import Capability, Indicator, VillageCount
from tests.factories import CapabilityFactory, IndicatorFactory, RetirementAgeFactory, make_citizen_id


@dataclass
class Catalogue:
    smartphone: Capability
    payment: Capability
    skills: Capability
    fibre: Capability
    adults_smartphone: Indicator
    payment_15plus: Indicator
    working_age_skills: Indicator
    households_fibre: Indicator


@pytest.fixture
def catalogue(db) -> Catalogue:
    smartphone = CapabilityFactory(code="smartphone", name="Có điện thoại thông minh", sort_order=10)
    payment = CapabilityFactory(code="payment_account", name="Có tài khoản thanh toán", sort_order=20)
    skills = CapabilityFactory(code="basic_digital_skills", name="Có kỹ năng số cơ bản", sort_order=30)
    fibre = CapabilityFactory(code="fibre_broadband", name="Hộ có cáp quang", for_household=True, sort_order=40)
    RetirementAgeFactory(sex=Sex.MALE)
    RetirementAgeFactory(sex=Sex.FEMALE)
    return Catalogue(
        smartphone=smartphone,
        payment=payment,
        skills=skills,
        fibre=fibre,
        adults_smartphone=IndicatorFactory(capability=smartphone, min_age=18),
        payment_15plus=IndicatorFactory(capability=payment, min_age=15),
        working_age_skills=IndicatorFactory(capability=skills, population=PopulationKind.WORKING_AGE, min_age=15),
        households_fibre=IndicatorFactory(capability=fibre, population=PopulationKind.HOUSEHOLDS, min_age=None),
    )


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _english():
    """Messages are checked in English: the Vietnamese catalogue is the translators' and may lag behind."""
    with translation.override("en"):
        yield


# --- files -------------------------------------------------------------------------------------------

RESIDENT_HEADERS = [
    "Mã thôn",
    "Mã hộ",
    "Chủ hộ",
    "Địa chỉ",
    "Họ và tên",
    "Giới tính",
    "Ngày sinh",
    "Năm sinh",
    "Số CCCD",
    "Số điện thoại",
    "Ngày ký đồng ý",
    "Có điện thoại thông minh [smartphone]",
    "Có điện thoại thông minh – ngày [smartphone]",
    "Có tài khoản thanh toán [payment_account]",
    "Có tài khoản thanh toán – ngày [payment_account]",
    "Có kỹ năng số cơ bản [basic_digital_skills]",
    "Có kỹ năng số cơ bản – ngày [basic_digital_skills]",
    "Hộ có cáp quang [fibre_broadband]",
    "Hộ có cáp quang – ngày [fibre_broadband]",
]


def write_xlsx(path: Path, headers: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "Dữ liệu"
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


def write_csv(path: Path, headers: Sequence[Any], rows: Iterable[Sequence[Any]], delimiter: str = ",") -> Path:
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(headers)
        for row in rows:
            writer.writerow(["" if v is None else v.strftime("%d/%m/%Y") if isinstance(v, dt.date) else v for v in row])
    return path


# The day a resident signed the consent form, given by default on a row with a CCCD or phone.
CONSENT_ON = dt.date(2026, 1, 15)


def resident_row(village_code: str, **values: Any) -> list[Any]:
    """A row in ``RESIDENT_HEADERS`` order; keys: household, head, address, name, sex, birth_date, birth_year,
    cccd, phone, consent_on, smartphone, smartphone_on, payment, payment_on, skills, skills_on, fibre, fibre_on.

    ``consent_on`` defaults to ``CONSENT_ON`` when the row has a CCCD or phone, else blank."""
    birth_date = values.get("birth_date", dt.date(1985, 4, 12))
    sex = values.get("sex", "Nữ")
    cccd = values.get("cccd")
    if cccd is None and values.get("with_cccd", True):
        year = birth_date.year if birth_date else values.get("birth_year", 1985)
        cccd = make_citizen_id(
            birth_year=year, sex=Sex.FEMALE if sex == "Nữ" else Sex.MALE, serial=values.get("serial", 1)
        )
    return [
        village_code,
        values.get("household", "HH-1"),
        values.get("head", "Nguyễn Văn An"),
        values.get("address", ""),
        values.get("name", "Nguyễn Thị Bình"),
        sex,
        birth_date,
        values.get("birth_year"),
        cccd or "",
        values.get("phone", ""),
        values.get("consent_on", CONSENT_ON if cccd or values.get("phone") else None),
        values.get("smartphone", ""),
        values.get("smartphone_on"),
        values.get("payment", ""),
        values.get("payment_on"),
        values.get("skills", ""),
        values.get("skills_on"),
        values.get("fibre", ""),
        values.get("fibre_on"),
    ]


def counts_of(province) -> dict[tuple[int, int], tuple[int, int]]:
    return {
        (v, i): (n, d)
        for v, i, n, d in VillageCount.objects.filter(province=province).values_list(
            "village_id", "indicator_id", "numerator", "denominator"
        )
        if n or d
    }
