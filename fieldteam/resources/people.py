"""Households and residents: one row per resident, with one yes/no and one date column per capability.

The columns of a resident file (Vietnamese headers; accents optional when read back):

    Mã thôn · Mã hộ · Chủ hộ · Địa chỉ · Họ và tên · Giới tính · Ngày sinh · Năm sinh · Số CCCD ·
    Số điện thoại · Ngày ký đồng ý · Dân tộc · then, per active capability of the catalogue, ``<name> [code]``
    (có/không) and ``<name> – ngày [code]`` (since when).

Rows with the same village and household code are one household (without a code: the same head
of household and address). Household capabilities (fibre broadband, ...) may be given on any row of
the household. Importing goes through ``fieldteam.imports`` (validation, all-or-nothing or
skip-invalid, bulk writes that keep the roll-up right); django-import-export's own row-by-row
import of the same file, every row saved through the people and adoption services, is the
benchmark's reference and lives with it (``bench/rowbyrow.py``).

A citizen ID or phone number is stored only with the date the resident signed the (paper) consent
form to the current notice, "Ngày ký đồng ý", unless the resident already has an open consent.

Exports write identifiers masked (``*********123``) and never the ethnicity (sensitive data); a
masked identifier reads back as "keep the stored one". The consent date is exported (the open
consent's), so an exported file imports back unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import CapabilitySubject, ResidentStatus, Sex
from fieldteam.models import Adoption, Capability, ConsentRecord, Household, Resident
from fieldteam.services.consent import IDENTIFIER_PURPOSE

from .base import (
    ChoiceWidget,
    CodeWidget,
    Column,
    DateWidget,
    FieldteamResource,
    IdentifierWidget,
    IntegerWidget,
    TextWidget,
    YesNoWidget,
)

SEX_WORDS = [
    ("Nam", Sex.MALE),
    ("Nữ", Sex.FEMALE),
    ("male", Sex.MALE),
    ("female", Sex.FEMALE),
    ("m", Sex.MALE),
    ("f", Sex.FEMALE),
]
STATUS_WORDS = [
    ("Đang sinh sống", ResidentStatus.ACTIVE),
    ("Đã chuyển đi", ResidentStatus.MOVED_OUT),
    ("Đã mất", ResidentStatus.DECEASED),
    ("Đã gộp (trùng lặp)", ResidentStatus.MERGED),
]


def sex_widget() -> ChoiceWidget:
    return ChoiceWidget(SEX_WORDS, _("Write “Nam” (male) or “Nữ” (female)."))


def capability_columns(subject: str) -> list[tuple[str, Column]]:
    """Two columns per active capability held by ``subject``: yes/no, and the date since when."""
    result: list[tuple[str, Column]] = []
    for capability in Capability.objects.filter(subject=subject, is_active=True).order_by("sort_order", "code"):
        result.append(
            (
                f"cap__{capability.code}",
                Column(
                    f"{capability.name} [{capability.code}]",
                    widget=YesNoWidget(),
                    aliases=(capability.code,),
                    help_text=_("“có” if they hold it, “không” or blank if not."),
                    example="có",
                ),
            )
        )
        result.append(
            (
                f"cap__{capability.code}__since",
                Column(
                    f"{capability.name} – ngày [{capability.code}]",
                    widget=DateWidget(),
                    aliases=(f"{capability.code} ngay", f"{capability.code}_since", f"{capability.code}_date"),
                    help_text=_(
                        "Since when (dd/mm/yyyy); not in the future. Blank with “có” means the day of the import."
                    ),
                    example=dt.date(2025, 6, 1),
                ),
            )
        )
    return result


def capability_code_of(key: str) -> tuple[str, bool] | None:
    """``("smartphone", False)`` for ``cap__smartphone``, ``("smartphone", True)`` for its date column."""
    if not key.startswith("cap__"):
        return None
    rest = key[len("cap__") :]
    if rest.endswith("__since"):
        return rest[: -len("__since")], True
    return rest, False


def open_adoption_dates(field: str, ids: list[int]) -> dict[int, dict[int, dt.date]]:
    """``{subject id: {capability id: since}}`` of the open adoptions of the given residents or households."""
    dates: dict[int, dict[int, dt.date]] = defaultdict(dict)
    rows = Adoption.objects.filter(**{f"{field}_id__in": ids}, ended_on__isnull=True).values_list(
        f"{field}_id", "capability_id", "since"
    )
    for subject_id, capability_id, since in rows:
        dates[subject_id][capability_id] = since
    return dates


def open_consent_given_at(resident_ids: list[int]) -> dict[int, dt.datetime]:
    """``{resident id: given_at}`` of the latest open consent for storing identifiers, as ``has_open_consent`` sees it."""
    found: dict[int, dt.datetime] = {}
    ids = sorted(set(resident_ids))
    for start in range(0, len(ids), 500):  # under SQLite's bound-parameter limit
        rows = ConsentRecord.objects.filter(
            resident_id__in=ids[start : start + 500], withdrawn_at__isnull=True
        ).values_list("resident_id", "given_at", "purposes")
        for resident_id, given_at, purposes in rows:
            if IDENTIFIER_PURPOSE in (purposes or []) and (resident_id not in found or given_at > found[resident_id]):
                found[resident_id] = given_at
    return found


class _CapabilityExportMixin:
    """Exports the yes/no and date of every capability column from the mask and open adoptions."""

    capability_subject: str
    _dates: dict[int, dict[int, dt.date]]
    _capabilities: dict[str, Capability]

    def capabilities_by_code(self) -> dict[str, Capability]:
        if not hasattr(self, "_capabilities"):
            self._capabilities = {
                c.code: c for c in Capability.objects.filter(subject=self.capability_subject, is_active=True)
            }
        return self._capabilities

    def export_value(self, column: Column, obj: Any) -> Any:
        parsed = capability_code_of(column.key)
        if parsed is None:
            return super().export_value(column, obj)  # type: ignore[misc]  # django-import-export stubs omit export_value
        code, is_date = parsed
        capability = self.capabilities_by_code().get(code)
        if capability is None:
            return None
        held = bool(obj.capability_mask & capability.mask)
        if not is_date:
            return held
        return self._dates.get(obj.pk, {}).get(capability.pk) if held else None


class HouseholdResource(_CapabilityExportMixin, FieldteamResource):
    """Households with their household capabilities (fibre broadband, smartphone in the household, ...)."""

    import_kind = "households"
    export_kind = "households"
    title = _("households")
    capability_subject = CapabilitySubject.HOUSEHOLD

    village_code = Column(
        "Mã thôn",
        attribute="village__code",
        widget=CodeWidget(32),
        required=True,
        aliases=("Mã thôn/tổ dân phố", "Mã địa bàn", "village_code"),
        help_text=_("The code of the village or residential group (as in the area list)."),
        example="23764-01",
    )
    code = Column(
        "Mã hộ",
        attribute="code",
        widget=CodeWidget(40),
        aliases=("Mã hộ gia đình", "household_code"),
        help_text=_("The household's code in the village. Rows with the same code are one household."),
        example="HGD-001",
    )
    head_name = Column(
        "Chủ hộ",
        attribute="head_name",
        widget=TextWidget(200),
        aliases=("Họ tên chủ hộ", "Tên chủ hộ"),
        help_text=_("Full name of the head of household."),
        example="Nguyễn Văn An",
    )
    address = Column(
        "Địa chỉ",
        attribute="address",
        widget=TextWidget(300),
        help_text=_("Address in the village (optional)."),
        example="Số 12, đường Lê Lợi",
    )
    is_active = Column("Còn hoạt động", attribute="is_active", widget=YesNoWidget(), import_=False)

    class Meta:
        model = Household
        fields = ("village_code", "code", "head_name", "address", "is_active")

    def extra_columns(self) -> list[tuple[str, Column]]:
        return capability_columns(CapabilitySubject.HOUSEHOLD)

    def export_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("village")

    def prepare_export_chunk(self, objects: list[Any]) -> None:
        self._dates = open_adoption_dates("household", [o.pk for o in objects])


class ResidentResource(_CapabilityExportMixin, FieldteamResource):
    """One row per resident, with the household's columns and both kinds of capability columns."""

    import_kind = "residents"
    export_kind = "residents"
    title = _("residents")
    capability_subject = CapabilitySubject.RESIDENT

    village_code = Column(
        "Mã thôn",
        attribute="village__code",
        widget=CodeWidget(32),
        required=True,
        aliases=("Mã thôn/tổ dân phố", "Mã địa bàn", "village_code"),
        help_text=_("The code of the village or residential group (as in the area list)."),
        example="23764-01",
    )
    household_code = Column(
        "Mã hộ",
        attribute="household__code",
        widget=CodeWidget(40),
        aliases=("Mã hộ gia đình", "household_code"),
        help_text=_(
            "The household's code in the village. Rows with the same code are one household; "
            "without a code, rows with the same head of household and address are."
        ),
        example="HGD-001",
    )
    head_name = Column(
        "Chủ hộ",
        attribute="household__head_name",
        widget=TextWidget(200),
        aliases=("Họ tên chủ hộ", "Tên chủ hộ"),
        help_text=_("Full name of the head of household (blank: the resident heads a household of their own)."),
        example="Nguyễn Văn An",
    )
    address = Column(
        "Địa chỉ",
        attribute="household__address",
        widget=TextWidget(300),
        help_text=_("Address of the household in the village (optional)."),
        example="Số 12, đường Lê Lợi",
    )
    full_name = Column(
        "Họ và tên",
        attribute="full_name",
        widget=TextWidget(200),
        required=True,
        aliases=("Họ tên", "Tên", "full_name"),
        help_text=_("The resident's full name."),
        example="Nguyễn Thị Bình",
    )
    sex = Column(
        "Giới tính",
        attribute="sex",
        widget=sex_widget(),
        required=True,
        help_text=_("“Nam” or “Nữ”."),
        example="Nữ",
    )
    birth_date = Column(
        "Ngày sinh",
        attribute="birth_date",
        widget=DateWidget(),
        aliases=("birth_date",),
        help_text=_("dd/mm/yyyy. Give the birth date or at least the birth year."),
        example=dt.date(1990, 3, 25),
    )
    birth_year = Column(
        "Năm sinh",
        attribute="birth_year",
        widget=IntegerWidget(1000, 9999),
        aliases=("birth_year",),
        help_text=_("Enough when the birth date is not known."),
        example=1990,
    )
    citizen_id = Column(
        "Số CCCD",
        attribute="citizen_id_masked",
        widget=IdentifierWidget(12),
        aliases=("CCCD", "Số căn cước", "Số căn cước công dân", "Số định danh cá nhân", "citizen_id"),
        help_text=_(
            "12 digits; must agree with the birth year and sex. Type it as text so the leading zeros stay. "
            "Each citizen ID once in the file and in the system."
        ),
        example="001190012345",
    )
    phone = Column(
        "Số điện thoại",
        attribute="phone_masked",
        widget=IdentifierWidget(10),
        aliases=("Điện thoại", "SĐT", "phone"),
        help_text=_("Mobile number, 10 digits starting with 03, 05, 07, 08 or 09 (or +84)."),
        example="0912345678",
    )
    consent_date = Column(
        "Ngày ký đồng ý",
        widget=DateWidget(),
        aliases=("Ngày đồng ý", "consent_date"),
        help_text=_(
            "A citizen ID or phone number is stored only for a resident who signed the consent form to the "
            "current notice: the date they signed it (dd/mm/yyyy), not in the future. Needed on a row with a "
            "citizen ID or phone number, unless the resident already has a consent on record."
        ),
        example=dt.date(2026, 1, 15),
    )
    ethnicity = Column(
        "Dân tộc",
        attribute="ethnicity",
        widget=TextWidget(60),
        export=False,
        help_text=_("Optional; sensitive personal data, never exported."),
        example="Kinh",
    )
    status = Column(
        "Trạng thái",
        attribute="status",
        widget=ChoiceWidget(STATUS_WORDS, _("Unknown status.")),
        import_=False,
    )

    class Meta:
        model = Resident
        fields = (
            "village_code",
            "household_code",
            "head_name",
            "address",
            "full_name",
            "sex",
            "birth_date",
            "birth_year",
            "citizen_id",
            "phone",
            "consent_date",
            "ethnicity",
            "status",
        )

    def extra_columns(self) -> list[tuple[str, Column]]:
        return capability_columns(CapabilitySubject.RESIDENT) + capability_columns(CapabilitySubject.HOUSEHOLD)

    # --- exports -------------------------------------------------------------------------------

    def export_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("village", "household")

    def prepare_export_chunk(self, objects: list[Any]) -> None:
        self._dates = open_adoption_dates("resident", [o.pk for o in objects])
        self._household_dates = open_adoption_dates("household", list({o.household_id for o in objects}))
        self._consents = open_consent_given_at([o.pk for o in objects])
        if not hasattr(self, "_household_capabilities"):
            self._household_capabilities = {
                c.code: c for c in Capability.objects.filter(subject=CapabilitySubject.HOUSEHOLD, is_active=True)
            }

    def export_value(self, column: Column, obj: Any) -> Any:
        parsed = capability_code_of(column.key)
        if parsed is not None and parsed[0] in getattr(self, "_household_capabilities", {}):
            code, is_date = parsed
            capability = self._household_capabilities[code]
            held = bool(obj.household.capability_mask & capability.mask)
            if not is_date:
                return held
            return self._household_dates.get(obj.household_id, {}).get(capability.pk) if held else None
        return super().export_value(column, obj)

    def dehydrate_consent_date(self, obj: Resident) -> dt.date | None:
        """The local date of the resident's open consent (blank if none)."""
        consents = getattr(self, "_consents", None)
        if consents is None:  # an export that did not go through ``prepare_export_chunk``
            consents = open_consent_given_at([obj.pk])
        given_at = consents.get(obj.pk)
        return timezone.localtime(given_at).date() if given_at is not None else None
