"""The trail written in bulk is the trail a save writes.

``fieldteam.audit.row_changes`` builds an entry's changes from a plan read once per model instead of
running django-auditlog's ``model_instance_diff`` on every row (issue 14, item 0). These tests hold it
to the library: for every registered model, on rows full and blank, for creations and for updates
of any field; then the entries a bulk write actually stores against those of a single save, column
by column, and every entry an import writes against the library's diff of the row as stored.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from auditlog.diff import model_instance_diff
from auditlog.registry import auditlog
from django.db import models, transaction
from django.utils import timezone

from fieldteam import audit, identifiers
from fieldteam.audit import changes
from fieldteam.choices import AdoptionSource, ConsentChannel, ResidentStatus, Sex
from fieldteam.imports import bulk
from fieldteam.imports.base import ImportOptions
from fieldteam.imports.engine import import_file
from fieldteam.imports.kinds import people_bulk
from fieldteam.models import Adoption, AuditEntry, ConsentRecord, Household, Resident
from fieldteam.services.consent import CURRENT_NOTICE_VERSION, DEFAULT_PURPOSES
from tests.factories import CapabilityFactory, HouseholdFactory, UserFactory, make_citizen_id
from tests.imports import conftest as import_fixtures
from tests.imports.conftest import RESIDENT_HEADERS, resident_row, write_csv

catalogue = import_fixtures.catalogue  # the import tests' capabilities and indicators (a fixture)
REGISTERED = sorted(auditlog.get_models(), key=lambda m: m.__name__)
WHEN = dt.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=dt.UTC)


# A value of each kind of column (the first kind a field is an instance of), and its blank form.
SAMPLES: list[tuple[type[models.Field] | tuple[type[models.Field], ...], Any, Any]] = [
    (models.UUIDField, uuid.UUID("12345678-1234-5678-1234-567812345678"), None),
    (models.DateTimeField, WHEN, None),
    (models.DateField, dt.date(2024, 2, 29), None),
    (models.BooleanField, True, False),
    (models.JSONField, ["identifiers", {"channel": "paper"}], []),
    (models.DecimalField, Decimal("12.50"), Decimal("0")),
    (models.FloatField, 1.5, 0.0),
    (models.GenericIPAddressField, "10.1.2.3", None),
    ((models.IntegerField, models.AutoField), 1987, 0),
    ((models.CharField, models.TextField), "Nguyễn Thị Bình 0912345678", ""),
]


def _sample(field: models.Field, *, blank: bool) -> Any:
    """A value a row could hold in ``field``: a real one, or (``blank``) the emptiest the column allows."""
    if field.is_relation:
        return _sample(field.target_field, blank=False)
    if blank and field.null:
        return None
    if blank and field.has_default():
        return field.get_default()
    if field.choices and not blank:
        return field.choices[0][0]
    for kind, full, empty in SAMPLES:
        if isinstance(field, kind):
            return empty if blank else full
    raise AssertionError(f"no sample value for {field!r}: add one to SAMPLES")


def _instance(model: type[models.Model], *, blank: bool) -> models.Model:
    values = {f.attname: _sample(f, blank=blank) for f in model._meta.concrete_fields}
    values[model._meta.pk.attname] = _sample(model._meta.pk, blank=False)  # a saved row has its key
    return model(**values)


def _as_stored(changes: dict[str, Any] | None) -> Any:
    return json.loads(json.dumps(changes, sort_keys=True))


@pytest.mark.parametrize("blank", [False, True], ids=["full", "blank"])
@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m.__name__)
def test_row_changes_are_the_librarys_diff_for_every_registered_model(model, blank) -> None:
    instance = _instance(model, blank=blank)
    expected = model_instance_diff(None, instance, use_json_for_changes=True) or None
    assert audit.row_changes(instance) == expected
    assert _as_stored(audit.row_changes(instance)) == _as_stored(expected)


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m.__name__)
def test_row_changes_of_an_update_are_the_librarys_for_any_field_written(model) -> None:
    instance = _instance(model, blank=False)
    names = {f.name for f in model._meta.concrete_fields} | {f.attname for f in model._meta.concrete_fields}
    for fields in [*([name] for name in sorted(names)), sorted(names)[:3]]:
        expected = model_instance_diff(None, instance, fields_to_check=fields, use_json_for_changes=True) or None
        assert audit.row_changes(instance, fields=fields) == expected, fields


def test_personal_values_are_masked_whole_in_bulk_built_changes() -> None:
    changes = audit.row_changes(_instance(Resident, blank=False))
    for name in ("full_name", "birth_date", "birth_year", "ethnicity", *Resident.IDENTIFIER_FIELDS):
        assert changes[name] == (audit.HIDDEN, audit.HIDDEN), name
    assert "Nguyễn" not in json.dumps(changes, ensure_ascii=False) and "0912345678" not in json.dumps(changes)


class _Level(enum.IntEnum):
    HIGH = 3


# Values of every kind a row may hold, whatever the column: text that JSON must escape (quotes,
# backslashes, controls, accents, characters beyond the BMP), numbers, choices, times in and out of UTC.
ODD_VALUES: list[Any] = [
    'say "có" \\ 100%\t\n\x00',
    "Nguyễn Thị Bình \u2028 ☃ 𝄞",
    "",
    0,
    -5,
    2**70,
    True,
    False,
    1.5,
    Decimal("12.50"),
    dt.date(2024, 2, 29),
    WHEN,
    WHEN.astimezone(dt.timezone(dt.timedelta(hours=7))),
    dt.datetime(2026, 3, 4, 5, 6, 7),  # noqa: DTZ001 - a naive time, as a careless caller could give
    Sex.FEMALE,
    _Level.HIGH,
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    ["identifiers", {"channel": "paper"}],
]


def _json_written(model: type[models.Model], row: dict[str, Any]) -> Any:
    """What ``record_created`` writes as the changes of ``row`` (attname → value), read back."""
    columns = list(row)
    write = changes.json_writer(changes.plan(model, None), {name: i for i, name in enumerate(columns)})
    text = write([row[name] for name in columns])
    return None if text is None else json.loads(text)


def _diffed(model: type[models.Model], row: dict[str, Any]) -> Any:
    plan = changes.plan(model, None)
    return _as_stored(plan.diff([None if f.kind == "related" else row[f.attname] for f in plan.logged]))


WRITTEN_IN_BULK = [m for m in REGISTERED if m.__name__ in audit.PERSONAL_MODELS]


@pytest.mark.parametrize("blank", [False, True], ids=["full", "blank"])
@pytest.mark.parametrize("model", WRITTEN_IN_BULK, ids=lambda m: m.__name__)
def test_the_json_text_of_a_bulk_written_entry_is_the_diff_of_its_row(model, blank) -> None:
    instance = _instance(model, blank=blank)
    row = {f.attname: getattr(instance, f.attname) for f in model._meta.concrete_fields}
    assert _json_written(model, row) == _as_stored(audit.row_changes(instance))


@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
@pytest.mark.parametrize("model", WRITTEN_IN_BULK, ids=lambda m: m.__name__)
def test_the_json_text_of_a_bulk_written_entry_is_the_diff_for_odd_values_in_any_column(model) -> None:
    full = {f.attname: getattr(_instance(model, blank=False), f.attname) for f in model._meta.concrete_fields}
    for name in full:
        for value in ODD_VALUES:
            row = {**full, name: value}
            try:
                expected = _diffed(model, row)
            except Exception as exc:  # the writer must then fail alike
                with pytest.raises(type(exc)):
                    _json_written(model, row)
                continue
            assert _json_written(model, row) == expected, (name, value)


def test_a_field_the_library_reads_from_the_instance_is_refused_by_the_json_writer(settings) -> None:
    settings.AUDITLOG_USE_FK_STRING_REPRESENTATION = True  # keys written as the related row's str()
    plan = changes._build_plan(Adoption, None)
    position = {f.attname: i for i, f in enumerate(Adoption._meta.concrete_fields)}
    with pytest.raises(ValueError, match="model instance"):
        changes.json_writer(plan, position)


# --- what is stored: a bulk write against single saves -----------------------------------------------

COMPARED = [f.attname for f in AuditEntry._meta.concrete_fields if f.attname not in ("id", "timestamp", "changes")]


def _entry_of(row: models.Model) -> AuditEntry:
    (entry,) = AuditEntry.objects.filter(object_pk=str(row.pk), content_type__model=row._meta.model_name)
    return entry


def _assert_same_entry(single: AuditEntry, bulk: AuditEntry, row_keys: dict[str, tuple[Any, Any]]) -> None:
    """The two entries agree on every column, the row's own key (and creation time) apart."""
    for name in COMPARED:
        if name in ("object_pk", "object_id", "object_repr"):
            continue
        assert getattr(bulk, name) == getattr(single, name), name
    assert bulk.object_repr == single.object_repr.replace(f"#{single.object_pk}", f"#{bulk.object_pk}")
    assert (bulk.object_pk, bulk.object_id) == (str(row_keys["id"][1]), row_keys["id"][1])
    expected = dict(single.changes)
    for key, (single_value, bulk_value) in row_keys.items():
        assert expected[key] == [None, single_value], key
        expected[key] = [None, bulk_value]
    assert bulk.changes == expected


def _row_like(saved: models.Model, fields: tuple[str, ...], **changed: Any) -> tuple[Any, ...]:
    """The import's row of ``fields`` holding what ``saved`` holds as stored (but ``changed``)."""
    saved.refresh_from_db()
    return tuple(changed[f] if f in changed else getattr(saved, f) for f in fields)


def _naive_utc_text(moment: dt.datetime) -> str:
    return str(timezone.make_naive(moment, dt.UTC))


@pytest.mark.django_db
def test_bulk_inserted_households_residents_and_adoptions_are_recorded_as_single_saves_are(area_tree) -> None:
    officer = UserFactory(email="canbo@example.org")
    village = area_tree.village
    capability = CapabilityFactory()
    cccd = make_citizen_id(birth_year=1980, sex=Sex.MALE)
    with audit.acting_as(officer):
        household_values = {
            "province_id": village.province_id,
            "village_id": village.pk,
            "code": "HGD-9",
            "head_name": "Rơ Mah Blơi",
            "address": "",
            "capability_mask": 0,
            "is_active": True,
        }
        single_household = Household.objects.create(**household_values)
        (bulk_household_id,) = bulk.bulk_insert(
            Household,
            people_bulk.HOUSEHOLD_FIELDS,
            [_row_like(single_household, people_bulk.HOUSEHOLD_FIELDS, code="HGD-10")],
        )
        resident_values = {
            "province_id": village.province_id,
            "village_id": village.pk,
            "household_id": single_household.pk,
            "full_name": "Rơ Mah Blơi",
            "sex": Sex.MALE.value,
            "birth_year": 1980,
            "birth_date": dt.date(1980, 5, 6),
            "birth_month_index": Resident.month_index(1980, 5),
            "ethnicity": "",
            "citizen_id_ciphertext": identifiers.encrypt(cccd),
            "citizen_id_hash": identifiers.citizen_id_hash(cccd),
            "citizen_id_masked": identifiers.mask_citizen_id(cccd),
            "phone_ciphertext": "",
            "phone_hash": None,
            "phone_masked": "",
            "status": ResidentStatus.ACTIVE.value,
            "capability_mask": 0,
        }
        single_resident = Resident.objects.create(**resident_values)
        other_hash = identifiers.citizen_id_hash(cccd[:-1] + "9")
        (bulk_resident_id,) = bulk.bulk_insert(
            Resident,
            people_bulk.RESIDENT_FIELDS,
            [_row_like(single_resident, people_bulk.RESIDENT_FIELDS, citizen_id_hash=other_hash)],
        )
        adoption_values = {
            "province_id": village.province_id,
            "capability_id": capability.pk,
            "resident_id": single_resident.pk,
            "household_id": None,
            "since": dt.date(2025, 1, 2),
            "source": AdoptionSource.IMPORT.value,
            "recorded_by_id": officer.pk,
        }
        single_adoption = Adoption.objects.create(**adoption_values)
        (bulk_adoption_id,) = bulk.bulk_insert(
            Adoption,
            people_bulk.ADOPTION_FIELDS,
            [_row_like(single_adoption, people_bulk.ADOPTION_FIELDS, resident_id=bulk_resident_id)],
        )

    bulk_household = Household.objects.get(pk=bulk_household_id)
    _assert_same_entry(
        _entry_of(single_household),
        _entry_of(bulk_household),
        {"id": (single_household.pk, bulk_household_id)},
    )
    _assert_same_entry(
        _entry_of(single_resident),
        _entry_of(Resident.objects.get(pk=bulk_resident_id)),
        {"id": (single_resident.pk, bulk_resident_id)},
    )
    bulk_adoption = Adoption.objects.get(pk=bulk_adoption_id)
    single_adoption.refresh_from_db()
    _assert_same_entry(
        _entry_of(single_adoption),
        _entry_of(bulk_adoption),
        {
            "id": (single_adoption.pk, bulk_adoption_id),
            "resident": (single_resident.pk, bulk_resident_id),
            # Each row's own creation time, as stored with it.
            "recorded_at": (_naive_utc_text(single_adoption.recorded_at), _naive_utc_text(bulk_adoption.recorded_at)),
        },
    )
    assert _entry_of(bulk_adoption).actor_id == officer.pk and _entry_of(bulk_adoption).actor_email == officer.email


@pytest.mark.django_db
def test_bulk_recorded_consents_are_recorded_as_a_single_save_is(area_tree) -> None:
    officer = UserFactory()
    household = HouseholdFactory(village=area_tree.village)
    first = Resident.objects.create(
        province_id=household.province_id, village_id=household.village_id, household=household,
        full_name="A", sex=Sex.FEMALE, birth_year=1990, birth_month_index=Resident.month_index(1990, 7),
    )  # fmt: skip
    second = Resident.objects.create(
        province_id=household.province_id, village_id=household.village_id, household=household,
        full_name="B", sex=Sex.FEMALE, birth_year=1990, birth_month_index=Resident.month_index(1990, 7),
    )  # fmt: skip
    signed = dt.date(2026, 1, 15)
    given_at = people_bulk.paper_consent(signed).given_at
    with audit.acting_as(officer):
        single = ConsentRecord.objects.create(
            province_id=first.province_id, resident=first, purposes=list(DEFAULT_PURPOSES),
            channel=ConsentChannel.PAPER, notice_version=CURRENT_NOTICE_VERSION, given_at=given_at, recorded_by=officer,
        )  # fmt: skip
        assert people_bulk._record_paper_consents({second.pk: (second.province_id, signed)}, officer) == 1
    bulk = ConsentRecord.objects.get(resident=second)
    _assert_same_entry(
        _entry_of(single), _entry_of(bulk), {"id": (single.pk, bulk.pk), "resident": (first.pk, second.pk)}
    )


def _import_rows(area_tree, tmp_path, actor, *, count: int = 6) -> Any:
    rows = [
        resident_row(
            area_tree.village.code, household=f"HH-{n // 3}", head=f"Chủ Hộ {n // 3}", name=f"Người {n}",
            birth_date=dt.date(1970 + n, 1 + n % 12, 1 + n), serial=100 + n,
            phone=f"09{n:08d}" if n % 2 else "", smartphone="có", smartphone_on=dt.date(2024, 3, 1),
            fibre="có" if n % 3 == 0 else "", fibre_on=dt.date(2023, 1, 1),
        )
        for n in range(count)
    ]  # fmt: skip
    path = write_csv(tmp_path / "residents.csv", RESIDENT_HEADERS, rows)
    return import_file(kind="residents", path=path, actor=actor, options=ImportOptions())


def _stored_diff(entry: AuditEntry) -> Any:
    row = entry.content_type.model_class().objects.get(pk=entry.object_pk)
    return _as_stored(model_instance_diff(None, row, use_json_for_changes=True))


@pytest.mark.django_db
@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("copy_from", [1, audit.COPY_FROM], ids=["copy", "insert"])
def test_every_entry_an_import_writes_is_the_librarys_diff_of_the_row_it_stored(
    area_tree, province_officer, tmp_path, monkeypatch, copy_from
) -> None:
    # The trail of a large import goes in by COPY on PostgreSQL, a small one by INSERT: both ways here.
    monkeypatch.setattr(audit, "COPY_FROM", copy_from)
    before = AuditEntry.objects.count()
    result = _import_rows(area_tree, tmp_path, province_officer)
    assert result.report.written and not result.report.errors, result.report.as_summary()
    entries = list(AuditEntry.objects.order_by("pk")[before:])
    kinds = {e.content_type.model for e in entries}
    assert {"household", "resident", "adoption", "consentrecord"} <= kinds, kinds
    for entry in entries:
        assert entry.action == AuditEntry.Action.CREATE
        assert entry.changes == _stored_diff(entry), (entry.content_type.model, entry.object_pk)
        assert entry.area_id == area_tree.village.pk and entry.province_id == area_tree.province.pk
        assert entry.object_repr.endswith(f"#{entry.object_pk}")
    assert len([e for e in entries if e.content_type.model == "resident"]) == 6


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("catalogue")
def test_an_import_and_its_trail_are_committed_together_or_not_at_all(
    area_tree, province_officer, tmp_path, monkeypatch
) -> None:
    """Run as a request runs it (no test transaction around it): the trail goes or stays with the rows."""
    writes = audit._write_entries

    def fail_on_adoptions(entries, count):  # the households' and residents' entries are already in
        entries = list(entries)
        if entries and entries[0][0] == audit.ContentType.objects.get_for_model(Adoption).pk:
            raise RuntimeError("the disk is full")
        writes(entries, count)

    monkeypatch.setattr(audit, "_write_entries", fail_on_adoptions)
    with pytest.raises(RuntimeError):
        _import_rows(area_tree, tmp_path, province_officer)
    assert not Resident.objects.exists() and not Household.objects.filter(code__startswith="HH-").exists()
    assert not AuditEntry.objects.filter(content_type__model__in=["resident", "household", "adoption"]).exists()

    monkeypatch.setattr(audit, "_write_entries", writes)
    result = _import_rows(area_tree, tmp_path, province_officer)
    assert result.report.written
    assert AuditEntry.objects.filter(content_type__model="resident").count() == Resident.objects.count() == 6
    assert transaction.get_autocommit()
