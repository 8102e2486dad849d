"""Citizen IDs and phone numbers: validation, normalisation, encryption, keyed hashes and masks.

The validators are exercised with hypothesis-generated values built from the rules of DESIGN.md §6:
CCCD = ``PPP G YY RRRRRR`` (PPP a pre-2025 province code, G century and sex, YY the birth year);
mobile = ``0`` + a 3/5/7/8/9 carrier prefix + 8 digits, also written ``+84…`` / ``84…``.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured, ValidationError
from hypothesis import assume, given
from hypothesis import strategies as st

from fieldteam.choices import Sex
from fieldteam.identifiers import (
    OLD_PROVINCE_CODES,
    citizen_id_hash,
    decrypt,
    encrypt,
    keyed_hash,
    mask_citizen_id,
    mask_phone,
    normalize_phone,
    phone_hash,
    rotate,
    validate_citizen_id,
    validate_phone,
)

# --- strategies --------------------------------------------------------------------------------

province_codes = st.sampled_from(sorted(OLD_PROVINCE_CODES))
not_province_codes = st.integers(0, 999).map(lambda n: f"{n:03d}").filter(lambda c: c not in OLD_PROVINCE_CODES)
sexes = st.sampled_from([Sex.MALE, Sex.FEMALE])
birth_years = st.integers(1900, 2199)  # centuries with a defined G digit in use: 0-5
serials = st.integers(0, 999_999)
digits = st.text(alphabet="0123456789", min_size=1, max_size=20)


def _century_sex_digit(birth_year: int, sex: str) -> int:
    return (birth_year // 100 - 19) * 2 + (1 if sex == Sex.FEMALE else 0)


@st.composite
def citizen_ids(draw: st.DrawFn) -> tuple[str, int, str]:
    """A CCCD consistent with the (birth year, sex) returned beside it."""
    year, sex = draw(birth_years), draw(sexes)
    value = f"{draw(province_codes)}{_century_sex_digit(year, sex)}{year % 100:02d}{draw(serials):06d}"
    return value, year, sex


def _spaced(value: str, draw: st.DrawFn) -> str:
    """The same digits as people type them: groups split by spaces, dots or dashes."""
    out = []
    for ch in value:
        out.append(ch)
        out.append(draw(st.sampled_from(["", "", "", " ", ".", "-"])))
    return "".join(out).strip(" .-")


@st.composite
def typed_citizen_ids(draw: st.DrawFn) -> tuple[str, str, int, str]:
    value, year, sex = draw(citizen_ids())
    return _spaced(value, draw), value, year, sex


carrier_prefixes = st.sampled_from("35789")
subscriber = st.integers(0, 10**8 - 1).map(lambda n: f"{n:08d}")


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    """A mobile number in its normal form ``0xxxxxxxxx``."""
    return f"0{draw(carrier_prefixes)}{draw(subscriber)}"


@st.composite
def written_mobiles(draw: st.DrawFn) -> tuple[str, str]:
    """(how someone wrote the number, its normal form)."""
    normal = draw(mobiles())
    national = normal[1:]
    form = draw(st.sampled_from([normal, "+84" + national, "84" + national, "+84 " + national]))
    return _spaced(form, draw) if not form.startswith("+") else "+" + _spaced(form[1:], draw), normal


# --- CCCD --------------------------------------------------------------------------------------


@given(citizen_ids())
def test_a_consistent_citizen_id_is_accepted(case: tuple[str, int, str]) -> None:
    # Given a CCCD whose province, century/sex digit and year agree with the resident
    value, year, sex = case
    # When it is validated against the resident's birth year and sex
    # Then it is accepted and returned unchanged
    assert validate_citizen_id(value, birth_year=year, sex=sex) == value


@given(typed_citizen_ids())
def test_a_citizen_id_typed_with_separators_is_normalised(case: tuple[str, str, int, str]) -> None:
    typed, value, year, sex = case
    assert validate_citizen_id(typed, birth_year=year, sex=sex) == value
    assert citizen_id_hash(typed) == citizen_id_hash(value)


@given(digits.filter(lambda d: len(d) != 12))
def test_a_citizen_id_without_exactly_12_digits_is_refused(value: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate_citizen_id(value)
    assert exc.value.code == "citizen_id_format"


@given(citizen_ids(), st.integers(0, 11), st.characters(categories=["L", "P", "S"], exclude_characters=" .-()"))
def test_a_citizen_id_with_a_letter_or_symbol_is_refused(case: tuple[str, int, str], at: int, char: str) -> None:
    value = case[0]
    with pytest.raises(ValidationError) as exc:
        validate_citizen_id(value[:at] + char + value[at + 1 :])
    assert exc.value.code == "citizen_id_format"


@given(citizen_ids(), not_province_codes)
def test_a_citizen_id_must_start_with_a_pre_2025_province_code(case: tuple[str, int, str], code: str) -> None:
    # Given an otherwise good CCCD whose first three digits are no old province code (e.g. 003, 097)
    value, year, sex = case
    with pytest.raises(ValidationError) as exc:
        validate_citizen_id(code + value[3:], birth_year=year, sex=sex)
    assert exc.value.code == "citizen_id_province"


def test_province_codes_are_the_63_pre_2025_provinces() -> None:
    assert len(OLD_PROVINCE_CODES) == 63
    assert {"001", "079", "096", "064"} <= OLD_PROVINCE_CODES  # Hà Nội, TP HCM, Cà Mau, Gia Lai
    assert not {"000", "003", "097", "100"} & OLD_PROVINCE_CODES


@given(citizen_ids(), birth_years)
def test_a_citizen_id_whose_year_disagrees_with_the_birth_year_is_refused(
    case: tuple[str, int, str], other_year: int
) -> None:
    # Given a CCCD encoding one birth year, and a resident born in another
    value, year, sex = case
    assume(other_year != year)
    # Then the mismatch is reported as a birth-year error
    with pytest.raises(ValidationError) as exc:
        validate_citizen_id(value, birth_year=other_year, sex=sex)
    assert exc.value.code == "citizen_id_birth_year"


@given(citizen_ids())
def test_a_citizen_id_whose_century_digit_disagrees_with_the_birth_year_is_refused(case: tuple[str, int, str]) -> None:
    # Given a resident born in 1985 and a CCCD with the same YY but the 2000s digit (…2 85…)
    value, year, sex = case
    shifted = year + 100 if year < 2100 else year - 100
    with pytest.raises(ValidationError) as exc:
        validate_citizen_id(value, birth_year=shifted, sex=sex)
    assert exc.value.code == "citizen_id_birth_year"


@given(citizen_ids())
def test_a_citizen_id_whose_sex_digit_disagrees_with_the_resident_is_refused(case: tuple[str, int, str]) -> None:
    value, year, sex = case
    other = Sex.FEMALE if sex == Sex.MALE else Sex.MALE
    with pytest.raises(ValidationError) as exc:
        validate_citizen_id(value, birth_year=year, sex=other)
    assert exc.value.code == "citizen_id_sex"


@pytest.mark.parametrize(
    ("value", "year", "sex"),
    [
        ("001085123456", 1985, Sex.MALE),
        ("001185123456", 1985, Sex.FEMALE),
        ("064205000001", 2005, Sex.MALE),
        ("064305000001", 2005, Sex.FEMALE),
        ("079400123456", 2100, Sex.MALE),
    ],
)
def test_century_and_sex_digit_examples(value: str, year: int, sex: str) -> None:
    assert validate_citizen_id(value, birth_year=year, sex=sex) == value


def test_citizen_id_errors_name_the_problem_in_the_message() -> None:
    with pytest.raises(ValidationError) as exc:
        validate_citizen_id("001085123456", birth_year=1990)
    assert "1985" in exc.value.messages[0]
    assert "1990" in exc.value.messages[0]


non_ascii_digits = st.characters(categories=["Nd"]).filter(lambda c: not c.isascii())


@given(citizen_ids(), st.integers(0, 11), non_ascii_digits)
def test_only_ascii_digits_make_a_citizen_id(case: tuple[str, int, str], at: int, char: str) -> None:
    # Given a CCCD with one digit typed in another script (e.g. a full-width "\uff10")
    value = case[0]
    typed = value[:at] + char + value[at + 1 :]
    # Then it is either refused or normalised to ASCII digits, never stored as typed
    try:
        result = validate_citizen_id(typed)
    except ValidationError:
        return
    assert result.isascii()
    assert result.isdigit()


# --- phone -------------------------------------------------------------------------------------


@given(written_mobiles())
def test_a_mobile_number_in_any_usual_writing_is_accepted_and_normalised(case: tuple[str, str]) -> None:
    # Given a number written as 09…, +84 9…, 84 9… with spaces or dots
    written, normal = case
    # Then it validates to one normal form
    assert validate_phone(written) == normal
    assert normalize_phone(written) == normal


@given(st.sampled_from("01246"), subscriber)
def test_a_number_with_no_mobile_carrier_prefix_is_refused(prefix: str, rest: str) -> None:
    # 02x is a landline area code, 00/01/04/06 are not mobile prefixes
    with pytest.raises(ValidationError) as exc:
        validate_phone(f"0{prefix}{rest}")
    assert exc.value.code == "phone_format"


@given(carrier_prefixes, st.text(alphabet="0123456789", max_size=14).filter(lambda s: len(s) != 8))
def test_a_mobile_number_of_the_wrong_length_is_refused(prefix: str, rest: str) -> None:
    for written in (f"0{prefix}{rest}", f"+84{prefix}{rest}"):
        with pytest.raises(ValidationError) as exc:
            validate_phone(written)
        assert exc.value.code == "phone_format"


@given(mobiles(), st.integers(1, 9), st.characters(categories=["L"]))
def test_a_mobile_number_with_a_letter_is_refused(normal: str, at: int, letter: str) -> None:
    with pytest.raises(ValidationError):
        validate_phone(normal[:at] + letter + normal[at + 1 :])


@given(mobiles(), st.integers(1, 9), non_ascii_digits)
def test_only_ascii_digits_make_a_mobile_number(normal: str, at: int, char: str) -> None:
    try:
        result = validate_phone(normal[:at] + char + normal[at + 1 :])
    except ValidationError:
        return
    assert result.isascii()
    assert result.isdigit()


def test_phone_examples() -> None:
    assert validate_phone("0912 345 678") == "0912345678"
    assert validate_phone("+84 912.345.678") == "0912345678"
    assert validate_phone("84912345678") == "0912345678"
    assert validate_phone("(+84) 386-123-456") == "0386123456"
    for bad in ("", "0212345678", "091234567", "09123456789", "+8409123456789", "1912345678"):
        with pytest.raises(ValidationError):
            validate_phone(bad)


# --- encryption --------------------------------------------------------------------------------


@given(st.text(min_size=1, max_size=200))
def test_encryption_round_trips(value: str) -> None:
    assert decrypt(encrypt(value)) == value


def test_encryption_is_randomised_and_empty_stays_empty() -> None:
    # Equal plaintexts give different tokens: ciphertexts cannot be compared to find a person
    assert encrypt("0912345678") != encrypt("0912345678")
    assert "0912345678" not in encrypt("0912345678")
    assert encrypt("") == ""
    assert decrypt("") == ""


def test_a_tampered_token_is_refused() -> None:
    token = encrypt("001085123456")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(InvalidToken):
        decrypt(tampered)


def test_a_bad_encryption_key_is_a_configuration_error(settings) -> None:
    settings.IDENTIFIER_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured):
        encrypt("0912345678")


def test_rotating_keys_keeps_old_tokens_readable_and_rotate_moves_them_to_the_new_key(settings) -> None:
    # Given a token written under the current (old) key
    old_key = settings.IDENTIFIER_ENCRYPTION_KEYS[0]
    token = encrypt("001085123456")
    # When a new key is put first and the old one kept second
    new_key = Fernet.generate_key().decode()
    settings.IDENTIFIER_ENCRYPTION_KEYS = [new_key, old_key]
    # Then the old token still decrypts
    assert decrypt(token) == "001085123456"
    # And rotate() re-encrypts it under the new key
    rotated = rotate(token)
    assert rotated != token
    assert decrypt(rotated) == "001085123456"
    # So that once the old key is dropped, the rotated token still decrypts and the old one does not
    settings.IDENTIFIER_ENCRYPTION_KEYS = [new_key]
    assert decrypt(rotated) == "001085123456"
    with pytest.raises(InvalidToken):
        decrypt(token)
    # And new writes already use the new key alone
    assert Fernet(new_key.encode()).decrypt(encrypt("x").encode()) == b"x"


# --- keyed hashes ------------------------------------------------------------------------------


@given(written_mobiles())
def test_the_phone_hash_is_the_same_for_every_writing_of_a_number(case: tuple[str, str]) -> None:
    written, normal = case
    assert phone_hash(written) == phone_hash(normal)


def test_phone_hash_examples() -> None:
    assert phone_hash("0912345678") == phone_hash("+84 912 345 678") == phone_hash("84912.345.678")
    assert phone_hash("0912345678") != phone_hash("0912345679")


@given(st.text(alphabet="0123456789", min_size=10, max_size=12))
def test_cccd_and_phone_hashes_live_in_separate_namespaces(value: str) -> None:
    assert keyed_hash("cccd", value) != keyed_hash("phone", value)


def test_the_hash_is_keyed_and_independent_of_the_encryption_keys(settings) -> None:
    before = citizen_id_hash("001085123456")
    assert re.fullmatch(r"[0-9a-f]{64}", before)
    # A plain SHA-256 of the digits would let anyone holding a dump brute-force 10^12 IDs
    assert before != hashlib.sha256(b"001085123456").hexdigest()
    # Rotating the encryption key leaves lookups alone
    settings.IDENTIFIER_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.IDENTIFIER_ENCRYPTION_KEYS]
    assert citizen_id_hash("001085123456") == before
    # Another hash key gives other hashes
    settings.IDENTIFIER_HASH_KEY = "another-hash-key"
    assert citizen_id_hash("001085123456") != before


# --- masks -------------------------------------------------------------------------------------


def _digits_shown(masked: str) -> str:
    return "".join(ch for ch in masked if ch.isdigit())


@given(citizen_ids())
def test_a_masked_citizen_id_shows_at_most_its_last_3_digits(case: tuple[str, int, str]) -> None:
    value = case[0]
    masked = mask_citizen_id(value)
    assert len(_digits_shown(masked)) <= 3
    assert value.endswith(_digits_shown(masked))
    assert masked.endswith(value[-3:])


@given(mobiles())
def test_a_masked_phone_shows_at_most_its_last_3_digits(normal: str) -> None:
    masked = mask_phone(normal)
    assert len(_digits_shown(masked)) <= 3
    assert normal.endswith(_digits_shown(masked))
    assert masked.endswith(normal[-3:])


def test_masks_of_nothing_are_empty() -> None:
    assert mask_citizen_id("") == ""
    assert mask_phone("") == ""
