"""Rotation of the identifier encryption key (``fieldteam.services.keys`` and ``rotate_identifier_keys``).

Given residents encrypted under an old key, when the new key is put first and the rotation runs,
then every identifier opens with the new key alone, exact lookups still find the residents (the
hash key is separate), and a second run changes nothing.
"""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.utils import translation

from fieldteam import identifiers
from fieldteam.choices import Sex
from fieldteam.models import Resident
from fieldteam.selectors.people import residents_by_identifier
from fieldteam.services import keys
from tests.factories import ResidentFactory, make_citizen_id, make_phone

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def _ciphertexts() -> dict[int, tuple[str, str]]:
    return {
        pk: (cid, phone)
        for pk, cid, phone in Resident.objects.values_list("pk", "citizen_id_ciphertext", "phone_ciphertext")
    }


@pytest.fixture
def old_residents(settings, area_tree) -> list[tuple[Resident, str, str]]:
    """Seven residents with a CCCD and a phone encrypted under OLD_KEY, and one without identifiers."""
    settings.IDENTIFIER_ENCRYPTION_KEYS = [OLD_KEY]
    made = []
    for serial in range(7):
        citizen_id = make_citizen_id(birth_year=1980 + serial, sex=Sex.MALE, serial=500 + serial)
        phone = make_phone(7000 + serial)
        resident = ResidentFactory(
            household__village=area_tree.village,
            sex=Sex.MALE,
            birth_year=1980 + serial,
            citizen_id=citizen_id,
            phone=phone,
        )
        made.append((resident, citizen_id, phone))
    ResidentFactory(household__village=area_tree.village)
    return made


def test_rotation_re_encrypts_every_identifier_under_the_new_key(settings, old_residents, superuser) -> None:
    settings.IDENTIFIER_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    hashes_before = dict(Resident.objects.values_list("pk", "citizen_id_hash"))
    seen: list[keys.RotationProgress] = []

    result = keys.identifier_keys_rotate(batch_size=3, on_batch=lambda p: seen.append(keys.RotationProgress(**vars(p))))

    assert (result.scanned, result.rotated, result.batches) == (7, 7, 3)
    assert [p.scanned for p in seen] == [3, 6, 7]
    settings.IDENTIFIER_ENCRYPTION_KEYS = [NEW_KEY]  # the old key is gone
    for resident, citizen_id, phone in old_residents:
        resident.refresh_from_db()
        assert identifiers.decrypt(resident.citizen_id_ciphertext) == citizen_id
        assert identifiers.decrypt(resident.phone_ciphertext) == phone
        # The lookup hash has its own key: exact searches still find the resident.
        assert list(residents_by_identifier(user=superuser, citizen_id=citizen_id)) == [resident]
        assert resident in residents_by_identifier(user=superuser, phone=phone)
    assert dict(Resident.objects.values_list("pk", "citizen_id_hash")) == hashes_before


def test_a_second_run_changes_nothing(settings, old_residents) -> None:
    settings.IDENTIFIER_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    keys.identifier_keys_rotate(batch_size=4)
    after_first = _ciphertexts()

    again = keys.identifier_keys_rotate(batch_size=4)

    assert (again.scanned, again.rotated) == (7, 0)
    assert _ciphertexts() == after_first


class _Crash(Exception):
    pass


def test_an_interrupted_run_resumes_after_the_last_batch(settings, old_residents) -> None:
    settings.IDENTIFIER_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    pks = sorted(r.pk for r, _cid, _phone in old_residents)
    reported: list[int] = []

    def crash_after_first_batch(progress: keys.RotationProgress) -> None:
        reported.append(progress.last_pk)
        raise _Crash

    with pytest.raises(_Crash):
        keys.identifier_keys_rotate(batch_size=3, on_batch=crash_after_first_batch)
    assert reported == [pks[2]]  # keyset by pk: the three lowest ids were committed

    resumed = keys.identifier_keys_rotate(batch_size=3, after_pk=reported[-1])

    assert (resumed.scanned, resumed.rotated) == (4, 4)
    settings.IDENTIFIER_ENCRYPTION_KEYS = [NEW_KEY]
    assert all(identifiers.is_current(c) and identifiers.is_current(p) for c, p in _ciphertexts().values())


@translation.override("en")
def test_a_missing_old_key_is_a_clear_error_and_later_batches_are_not_touched(settings, old_residents) -> None:
    settings.IDENTIFIER_ENCRYPTION_KEYS = [NEW_KEY]  # the old key was dropped too early
    before = _ciphertexts()

    with pytest.raises(keys.KeyRotationError, match=r"Resident #\d+: citizen_id_ciphertext opens with none"):
        keys.identifier_keys_rotate(batch_size=3)

    assert _ciphertexts() == before


@pytest.mark.parametrize(
    ("configured", "message"),
    [([], "IDENTIFIER_ENCRYPTION_KEYS is empty"), (["not-a-key", OLD_KEY], "entry 1 is not a Fernet key")],
)
@translation.override("en")
def test_missing_or_malformed_keys_are_refused_before_any_write(settings, old_residents, configured, message) -> None:
    before = _ciphertexts()
    settings.IDENTIFIER_ENCRYPTION_KEYS = configured

    with pytest.raises(CommandError, match=message):
        call_command("rotate_identifier_keys", stdout=StringIO())

    assert _ciphertexts() == before


@translation.override("en")  # the output is checked in English; the catalogue may lag behind
def test_the_command_reports_progress_per_batch_and_a_rerun_rotates_nothing(settings, old_residents) -> None:
    settings.IDENTIFIER_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    out = StringIO()

    call_command("rotate_identifier_keys", "--batch-size", "5", stdout=out)

    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # two batches of at most five, then the total
    assert "5" in lines[0] and "7" in lines[1]
    assert "7" in lines[2]
    again = StringIO()
    call_command("rotate_identifier_keys", stdout=again)
    assert again.getvalue().splitlines()[-1].startswith("Done: 0 of 7")
