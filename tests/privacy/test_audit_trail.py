"""The audit trail: every change with who and when, no personal values, scoped, append-only."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from fieldteam.choices import AreaRoleKind, Sex
from fieldteam.models import Adoption, AuditEntry, Resident
from fieldteam.models.audit import AuditTrailIsAppendOnly
from fieldteam.selectors.audit import audit_trail_visible
from fieldteam.services import people
from fieldteam.services.consent import ConsentInput
from tests.factories import (
    AreaRoleFactory,
    CapabilityFactory,
    HouseholdFactory,
    ResidentFactory,
    TargetFactory,
    make_citizen_id,
)

pytestmark = pytest.mark.django_db

CREATE, UPDATE, ACCESS = AuditEntry.Action.CREATE, AuditEntry.Action.UPDATE, AuditEntry.Action.ACCESS


def entries_about(instance) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(object_pk=str(instance.pk), content_type__model=instance._meta.model_name))


def test_a_registration_is_recorded_without_the_persons_name_or_identifiers(area_tree, member) -> None:
    cccd = make_citizen_id(birth_year=1988, sex=Sex.MALE)
    resident = people.register_resident(
        actor=member,
        household=HouseholdFactory(village=area_tree.village),
        full_name="Siu Thắm",
        sex=Sex.MALE,
        birth_year=1988,
        citizen_id=cccd,
        phone="0987654321",
        consent=ConsentInput(channel="in_person"),
    )
    (created,) = [e for e in entries_about(resident) if e.action == CREATE]
    assert created.area_id == area_tree.village.pk and created.province_id == area_tree.province.pk
    text = f"{created.object_repr} {created.changes} {created.additional_data}"
    for secret in ("Siu Thắm", cccd, "0987654321", cccd[-3:] + '"', "1988"):
        assert secret not in text
    assert "full_name" in created.changes and "citizen_id_hash" in created.changes


def test_a_change_names_the_fields_changed_and_the_actor(area_tree, member) -> None:
    from auditlog.context import set_actor

    resident = ResidentFactory(household__village=area_tree.village)
    with set_actor(member):
        people.update_resident(actor=member, resident=resident, full_name="Một Tên Khác", sex=Sex.MALE)
    update = AuditEntry.objects.filter(object_pk=str(resident.pk), action=UPDATE).latest("timestamp")
    assert update.actor == member
    assert set(update.changes) >= {"full_name", "sex"}
    assert update.changes["full_name"] == ["***", "***"]
    assert update.changes["sex"] == [Sex.FEMALE, Sex.MALE]


def test_a_logged_assistance_records_the_log_its_items_and_the_adoptions_with_the_token_user(world, client_for) -> None:
    body = {
        "id": str(uuid.uuid4()),
        "team": world.places["V1"].team.pk,
        "resident": world.places["V1"].resident.pk,
        "occurred_at": timezone.now().isoformat(),
        "channel": "home_visit",
        "items": [{"capability": world.skills.code, "outcome": "done"}],
        "note": "đã cài VNeID cho bà",
    }
    response = client_for(world.member).post("/api/v1/assistance-logs/", body, format="json")
    assert response.status_code == 201, response.json()
    made = AuditEntry.objects.filter(actor=world.member, action=CREATE)
    assert set(made.values_list("content_type__model", flat=True)) == {"assistancelog", "assistanceitem"} | (
        {"adoption"} if Adoption.objects.filter(assistance_log_id=body["id"]).exists() else set()
    )
    assert set(made.values_list("area_id", flat=True)) == {world.places["V1"].village.pk}
    for adoption in Adoption.objects.filter(assistance_log_id=body["id"]):
        assert entries_about(adoption)[0].actor == world.member
    log_entry = AuditEntry.objects.get(object_pk=body["id"])
    assert "VNeID" not in str(log_entry.changes)


def test_a_target_change_is_recorded(area_tree, superuser) -> None:
    target = TargetFactory(area=area_tree.commune)
    target.value = 42
    target.save()
    assert {e.action for e in entries_about(target)} == {CREATE, UPDATE}
    assert all(e.area_id == area_tree.commune.pk for e in entries_about(target))


def test_bulk_written_adoptions_are_recorded_one_entry_each(area_tree) -> None:
    from fieldteam.services.adoption import set_adoptions

    resident = ResidentFactory(household__village=area_tree.village)
    capabilities = [CapabilityFactory(), CapabilityFactory()]
    adoptions = set_adoptions(
        actor=None, subject=resident, capabilities=capabilities, since=timezone.localdate(), source="survey"
    )
    for adoption in adoptions:
        (entry,) = entries_about(adoption)
        assert entry.action == CREATE and entry.area_id == area_tree.village.pk


def test_officers_read_the_trail_of_their_subtree_only_and_members_none(
    area_tree, member, commune_officer, province_officer
) -> None:
    here = ResidentFactory(household__village=area_tree.village)
    other_commune = ResidentFactory(household__village=area_tree.other_village)
    far = ResidentFactory(household__village=area_tree.far_village)

    def objects(user) -> set[str]:
        return set(
            audit_trail_visible(user=user).filter(content_type__model="resident").values_list("object_pk", flat=True)
        )

    assert objects(commune_officer) == {str(here.pk)}
    assert objects(province_officer) == {str(here.pk), str(other_commune.pk)}
    assert objects(member) == set()
    assert str(far.pk) not in objects(province_officer)
    viewer = AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.VIEWER).user
    assert objects(viewer) == set()


def test_the_admin_trail_is_read_only_and_scoped(client, area_tree, commune_officer) -> None:
    here = ResidentFactory(household__village=area_tree.village)
    far = ResidentFactory(household__village=area_tree.far_village)
    client.force_login(commune_officer)
    listing = client.get("/admin/fieldteam/auditentry/")
    assert listing.status_code == 200
    body = listing.content.decode()
    here_entry = AuditEntry.objects.get(object_pk=str(here.pk), content_type__model="resident")
    far_entry = AuditEntry.objects.get(object_pk=str(far.pk), content_type__model="resident")
    assert f"/{here_entry.pk}/change/" in body and f"/{far_entry.pk}/change/" not in body
    assert client.get(f"/admin/fieldteam/auditentry/{far_entry.pk}/change/").status_code in (302, 404)
    assert client.get("/admin/fieldteam/auditentry/add/").status_code == 403
    deleted = client.post(f"/admin/fieldteam/auditentry/{here_entry.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 403
    assert AuditEntry.objects.filter(pk=here_entry.pk).exists()


def test_nobody_can_change_or_delete_an_entry_through_django(area_tree) -> None:
    entry = entries_about(ResidentFactory(household__village=area_tree.village))[0]
    entry.object_repr = "forged"
    with pytest.raises(AuditTrailIsAppendOnly):
        entry.save()
    with pytest.raises(AuditTrailIsAppendOnly):
        entry.delete()
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).update(object_repr="forged")
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEntry.objects.all().delete()


@pytest.mark.postgres_only
def test_postgresql_refuses_changes_to_the_trail_from_any_client(area_tree) -> None:
    from django.db import DatabaseError

    entry = entries_about(ResidentFactory(household__village=area_tree.village))[0]
    for sql in (
        "UPDATE fieldteam_auditentry SET object_repr = 'forged' WHERE id = %s",
        "DELETE FROM fieldteam_auditentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])
    assert AuditEntry.objects.get(pk=entry.pk).object_repr == entry.object_repr


def test_a_bulk_import_records_each_new_resident(area_tree, province_officer) -> None:
    from fieldteam.imports.bulk import bulk_insert
    from fieldteam.imports.kinds.people_bulk import RESIDENT_FIELDS  # noqa: F401 - the bulk path itself

    household = HouseholdFactory(village=area_tree.village)
    before = AuditEntry.objects.filter(content_type__model="resident", action=CREATE).count()
    resident = Resident(
        province_id=household.province_id,
        village_id=household.village_id,
        household_id=household.pk,
        full_name="Nhập Từ Tệp",
        sex=Sex.MALE,
        birth_year=1970,
    )
    resident.derive_birth_month_index()
    fields = ("province_id", "village_id", "household_id", "full_name", "sex", "birth_year", "birth_month_index")
    (pk,) = bulk_insert(Resident, fields, [tuple(getattr(resident, f) for f in fields)])
    assert AuditEntry.objects.filter(content_type__model="resident", action=CREATE).count() == before + 1
    entry = AuditEntry.objects.get(object_pk=str(pk), content_type__model="resident")
    assert entry.area_id == area_tree.village.pk and "Nhập Từ Tệp" not in str(entry.changes)


def test_the_trail_names_the_token_user_not_a_stale_one(world) -> None:
    token, _ = Token.objects.get_or_create(user=world.member)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    body = {
        "household": world.places["V1"].household.pk,
        "full_name": "Hờ Thị Mai",
        "sex": "female",
        "birth_year": 2001,
    }
    created = client.post("/api/v1/residents/", body, format="json").json()
    assert AuditEntry.objects.get(object_pk=str(created["id"]), content_type__model="resident").actor == world.member
    # After the request, an entry made outside any request names nobody.
    other = ResidentFactory(household__village=world.places["V1"].village)
    assert AuditEntry.objects.get(object_pk=str(other.pk), content_type__model="resident").actor is None


def test_deleting_a_user_keeps_their_entries_untouched(area_tree) -> None:
    from auditlog.context import set_actor

    from tests.factories import UserFactory

    officer = UserFactory()
    with set_actor(officer):
        resident = ResidentFactory(household__village=area_tree.village)
    entry = AuditEntry.objects.get(object_pk=str(resident.pk), content_type__model="resident")
    assert entry.actor_id == officer.pk
    officer_pk = officer.pk
    officer.delete()
    assert AuditEntry.objects.get(pk=entry.pk).actor_id == officer_pk


def test_an_erasure_reason_holding_a_phone_number_is_refused_and_nothing_is_erased(area_tree, superuser) -> None:
    from django.core.exceptions import ValidationError

    from fieldteam.services.privacy import anonymise_resident

    resident = ResidentFactory(household__village=area_tree.village, with_ids=True)
    name = resident.full_name
    with pytest.raises(ValidationError) as excinfo:
        anonymise_resident(actor=superuser, resident=resident, reason="Con gái gọi từ 0912.345.678 yêu cầu xóa")
    assert excinfo.value.message_dict.keys() == {"reason"}
    resident.refresh_from_db()
    assert resident.citizen_id_hash and resident.full_name == name


def test_a_merge_records_every_row_it_moves_and_leaves_no_identifier_on_the_merged_record(world) -> None:
    from fieldteam.services.duplicates import merge_residents

    keep = world.places["V1"].resident
    duplicate = ResidentFactory(household=keep.household, full_name=keep.full_name, phone="0912999888")
    moved_log = world.colleague_log
    moved_log.resident = duplicate
    moved_log.save(update_fields=["resident"])

    merge_residents(actor=world.users["commune_officer"], keep=keep, duplicate=duplicate)

    duplicate.refresh_from_db()
    assert not duplicate.phone_hash and not duplicate.phone_ciphertext and not duplicate.citizen_id_hash
    moves = [e for e in entries_about(moved_log) if e.action == UPDATE and "resident" in (e.changes or {})]
    assert str(max(moves, key=lambda e: e.pk).changes["resident"][1]) == str(keep.pk)
    (consent_move,) = [
        e
        for e in AuditEntry.objects.filter(content_type__model="consentrecord", action=UPDATE)
        if "resident" in e.changes
    ]
    assert consent_move.area_id == world.places["V1"].village.pk


def test_erasure_and_export_follow_records_merged_into_the_person(world) -> None:
    from fieldteam.selectors.person_data import export_person_data
    from fieldteam.services.duplicates import merge_residents
    from fieldteam.services.privacy import anonymise_resident

    officer = world.users["commune_officer"]
    keep = world.places["V1"].resident
    duplicate = ResidentFactory(household=keep.household, full_name="Tên Đăng Ký Lần Hai")
    merge_residents(actor=officer, keep=keep, duplicate=duplicate)

    exported = export_person_data(actor=officer, resident=keep)
    assert [r["full_name"] for r in exported["merged_records"]] == ["Tên Đăng Ký Lần Hai"]

    anonymise_resident(actor=officer, resident=keep, reason="Yêu cầu xóa dữ liệu của người dân")
    duplicate.refresh_from_db()
    assert duplicate.full_name != "Tên Đăng Ký Lần Hai" and str(duplicate.pk) in duplicate.full_name
    assert AuditEntry.objects.filter(object_pk=str(duplicate.pk), additional_data__event="anonymised").exists()


def test_the_admin_trail_names_actions_in_vietnamese_and_filters_by_them(client, area_tree, commune_officer) -> None:
    resident = ResidentFactory(household__village=area_tree.village)
    client.force_login(commune_officer)
    listing = client.get("/admin/fieldteam/auditentry/", {"action": AuditEntry.Action.CREATE}, HTTP_ACCEPT_LANGUAGE="vi")
    assert listing.status_code == 200
    body = listing.content.decode()
    entry = AuditEntry.objects.get(object_pk=str(resident.pk), content_type__model="resident")
    assert f"/{entry.pk}/change/" in body and "đã tạo" in body
    changed = client.get("/admin/fieldteam/auditentry/", {"action": AuditEntry.Action.UPDATE})
    assert f"/{entry.pk}/change/" not in changed.content.decode()
