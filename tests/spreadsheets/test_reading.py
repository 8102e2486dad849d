"""The one reader of uploads: bombs refused before parsing, caps, encodings, clear Vietnamese errors.

"Before parsing" is checked, not timed: the parsers are replaced by ones that fail the test if
they are called, and the Python memory the refusal takes is measured.
"""

from __future__ import annotations

import codecs
import tracemalloc
from pathlib import Path

import openpyxl
import pytest
import python_calamine
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from fieldteam.imports.base import ImportOptions
from fieldteam.imports.engine import import_file
from fieldteam.imports.jobs import import_job_start
from fieldteam.models import BackgroundJob
from fieldteam.spreadsheets import reading
from fieldteam.spreadsheets.reading import Limits, SpreadsheetRefused, open_table
from tests.spreadsheets import bombs

HEADERS = ["Mã thôn", "Họ và tên"]
GB = 1024**3
NOT_READABLE = "Không đọc được tệp Excel (.xlsx) này."


def limits(**changes: int) -> Limits:
    return Limits(
        **{
            "max_bytes": 50 * reading.MB,
            "max_uncompressed_bytes": 320 * reading.MB,
            "max_rows": 200_000,
            "max_columns": 300,
            **changes,
        }
    )


def refusal(path: Path, fmt: str, lim: Limits | None = None) -> str:
    with (
        translation.override("vi"),
        pytest.raises(SpreadsheetRefused) as refused,
        open_table(path, fmt, limits=lim) as t,
    ):
        list(t.rows)
    return refused.value.message


@pytest.fixture
def no_parsing(monkeypatch):
    """Fail the test if a spreadsheet parser is reached (the reader would turn the parser's error
    into a refusal, so the calls are recorded and checked at the end)."""
    calls: list[object] = []

    def parsed(*args, **kwargs):
        calls.append(args)
        raise AssertionError("the file was parsed")

    monkeypatch.setattr(python_calamine, "CalamineWorkbook", type("Exploding", (), {"from_path": parsed}))
    monkeypatch.setattr(openpyxl, "load_workbook", parsed)
    yield
    assert not calls, "a parser was reached"


@pytest.fixture
def valid() -> bytes:
    return bombs.xlsx(HEADERS, [["01", "Nguyễn Văn A"]])


# --- zip bombs ------------------------------------------------------------------------------------


def test_a_file_that_declares_a_gigabyte_is_refused_from_its_directory(tmp_path, valid, no_parsing) -> None:
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(bombs.declared_size(valid, bombs.SHEET, GB))
    assert path.stat().st_size < 20_000
    tracemalloc.start()
    try:
        message = refusal(path, "xlsx")  # the default caps
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message.startswith("Khi mở ra, bảng tính này chiếm hơn 320 MB")
    assert peak < 1024 * 1024  # the directory was read, nothing was unpacked


def test_a_sheet_of_millions_of_repeated_rows_is_refused_before_parsing(tmp_path, valid, no_parsing) -> None:
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(bombs.repeated_rows(valid, 24 * reading.MB))  # ~480,000 rows
    compressed = path.stat().st_size
    assert compressed < 200_000  # a ratio of over 100: the shape of a bomb
    message = refusal(path, "xlsx", limits(max_uncompressed_bytes=8 * reading.MB))
    assert "Khi mở ra, bảng tính này chiếm hơn 8.0 MB" in message


def test_a_member_that_lies_about_its_size_is_not_unpacked_past_it(tmp_path, monkeypatch) -> None:
    """The parsers stop at the declared size, so the directory check bounds what they unpack."""
    content = bombs.xlsx(HEADERS, [["01", f"Người {n}"] for n in range(20000)])
    path = tmp_path / "liar.xlsx"
    path.write_bytes(bombs.declared_size(content, bombs.SHEET, 50_000))
    calls = []
    real = python_calamine.CalamineWorkbook.from_path
    monkeypatch.setattr(
        python_calamine.CalamineWorkbook, "from_path", lambda p: calls.append(p) or real(p), raising=True
    )
    assert refusal(path, "xlsx") == NOT_READABLE
    assert calls  # it was parsed, and refused: calamine stopped at the declared size, then openpyxl did


def test_thousands_of_members_are_refused_unparsed(tmp_path, valid, no_parsing) -> None:
    path = tmp_path / "many.xlsx"
    path.write_bytes(bombs.many_members(valid, reading.MAX_MEMBERS + 1))
    assert "Khi mở ra" in refusal(path, "xlsx")


def test_a_compression_excel_never_writes_is_refused(tmp_path, valid, no_parsing) -> None:
    path = tmp_path / "bz.xlsx"
    path.write_bytes(bombs.bzip2(valid))
    assert refusal(path, "xlsx") == NOT_READABLE


def test_a_file_over_the_size_cap_is_refused(tmp_path, valid, no_parsing) -> None:
    path = tmp_path / "big.xlsx"
    path.write_bytes(valid)
    assert refusal(path, "xlsx", limits(max_bytes=1000)).startswith("Tệp nặng")
    csv_path = tmp_path / "big.csv"
    csv_path.write_bytes(b"a,b\n" * 1000)
    assert refusal(csv_path, "csv", limits(max_bytes=1000)).startswith("Tệp nặng")


def test_an_old_xls_or_garbage_is_refused_clearly(tmp_path, no_parsing) -> None:
    old = tmp_path / "old.xlsx"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert "(.xls)" in refusal(old, "xlsx")
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"hello")
    assert refusal(junk, "xlsx") == NOT_READABLE
    with pytest.raises(SpreadsheetRefused, match="xls"):
        reading.detect_format("danh-sach.xls")


# --- rows and columns -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_rows_and_columns_over_the_caps_are_refused(tmp_path, fmt) -> None:
    rows = [["01", f"Người {n}"] for n in range(6)]
    path = tmp_path / f"f.{fmt}"
    if fmt == "xlsx":
        path.write_bytes(bombs.xlsx(HEADERS, rows))
    else:
        path.write_text("\n".join(",".join(r) for r in [HEADERS, *rows]), encoding="utf-8")
    assert refusal(path, fmt, limits(max_rows=5)).startswith("Tệp có 6 dòng; mỗi lần chỉ nhập được tối đa 5 dòng")
    assert refusal(path, fmt, limits(max_columns=1)).startswith("Tệp có 2 cột")
    with open_table(path, fmt, limits=limits(max_rows=6, max_columns=2)) as table:
        assert len(list(table.rows)) == 6


def test_openpyxl_counts_the_caps_while_it_streams(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(reading, "_xlsx_rows_calamine", lambda path, limits: None)
    path = tmp_path / "f.xlsx"
    path.write_bytes(bombs.xlsx(HEADERS, [["01", f"Người {n}"] for n in range(6)]))
    assert "6 dòng" in refusal(path, "xlsx", limits(max_rows=5))
    assert "2 cột" in refusal(path, "xlsx", limits(max_columns=1))


# --- CSV encodings --------------------------------------------------------------------------------

TEXT = "Mã thôn,Họ và tên\n01,Nguyễn Thị Ánh\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_utf8_with_or_without_a_byte_order_mark_is_read(tmp_path, encoding) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(TEXT.encode(encoding))
    with open_table(path, "csv") as table:
        assert table.headers == HEADERS and [v for _n, v in table.rows] == [["01", "Nguyễn Thị Ánh"]]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_gets_its_own_message_not_missing_columns(tmp_path, encoding) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(TEXT.encode(encoding))
    assert refusal(path, "csv").startswith("Tệp CSV đang được lưu theo bảng mã UTF-16")


@pytest.mark.parametrize("encoding", ["cp1258", "latin-1"])
def test_other_encodings_are_told_to_save_as_utf8(tmp_path, encoding) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes("Mã thôn,Họ và tên\n01,Nguyễn Thị Ánh\n".encode(encoding, errors="replace"))
    assert refusal(path, "csv") == "Tệp CSV không dùng bảng mã UTF-8; hãy lưu lại với định dạng “CSV UTF-8”."


def test_an_excel_file_named_csv_and_binary_data_are_told_apart(tmp_path, valid) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(valid)
    assert refusal(path, "csv").startswith("Đây là tệp Excel, không phải tệp CSV")
    path.write_bytes(b"a,b\n1,\x00\x012\n")
    assert refusal(path, "csv") == "Đây không phải là tệp CSV đọc được."


def test_a_cell_longer_than_the_csv_module_reads_is_refused_not_raised(tmp_path) -> None:
    path = tmp_path / "f.csv"
    path.write_text('Mã thôn,Họ và tên\n01,"' + "x" * 200_000 + '"\n', encoding="utf-8")
    assert refusal(path, "csv").startswith("Không đọc được tệp CSV ở khoảng dòng 2")


def test_the_bom_of_a_utf8_file_is_not_part_of_the_first_header(tmp_path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"M\xc3\xa3 th\xc3\xb4n;H\xe1\xbb\x8d v\xc3\xa0 t\xc3\xaan\n")
    with open_table(path, "csv") as table:
        assert table.headers == HEADERS


# --- through the import and the upload --------------------------------------------------------------


@pytest.mark.django_db
def test_an_import_of_a_bomb_is_refused_in_vietnamese_and_writes_nothing(tmp_path, valid, superuser, no_parsing):
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(bombs.declared_size(valid, bombs.SHEET, GB))
    with translation.override("vi"):
        report = import_file(kind="residents", path=path, actor=superuser, options=ImportOptions()).report
    assert report.refused.startswith("Khi mở ra") and not report.written and report.total_rows == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "start"),
    [
        ("bomb.xlsx", "bomb", "Khi mở ra"),
        ("danh-sach.csv", TEXT.encode("utf-16"), None),  # an encoding is found when the job reads it
        ("danh-sach.xls", b"\xd0\xcf\x11\xe0", "Đây là tệp Excel đời cũ"),
    ],
)
def test_the_upload_is_checked_before_it_is_stored(valid, commune_officer, name, content, start) -> None:
    if content == "bomb":
        content = bombs.declared_size(valid, bombs.SHEET, GB)
    upload = SimpleUploadedFile(name, content)
    with translation.override("vi"):
        if start is None:
            assert import_job_start(actor=commune_officer, kind="residents", upload=upload, file_name=name)
            return
        with pytest.raises(ValidationError) as refused:
            import_job_start(actor=commune_officer, kind="residents", upload=upload, file_name=name)
    assert refused.value.message_dict["import_file"][0].startswith(start)
    assert not BackgroundJob.objects.exists()


@pytest.mark.django_db
def test_the_admin_form_shows_the_refusal_on_the_file_field(client, valid, commune_officer, settings) -> None:
    from django.urls import reverse

    settings.FIELDTEAM_UPLOAD_MAX_BYTES = 1000
    client.force_login(commune_officer)
    upload = SimpleUploadedFile("danh-sach.xlsx", valid)
    response = client.post(
        reverse("admin:fieldteam_resident_import"), {"import_file": upload, "dry_run": "on"}, HTTP_ACCEPT_LANGUAGE="vi"
    )
    assert response.status_code == 200
    assert "mỗi lần chỉ nhập được tối đa" in response.content.decode()
    assert not BackgroundJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_refused_upload_leaves_no_job_and_no_stored_file(valid, commune_officer, settings, tmp_path) -> None:
    """As a request runs it (no test transaction around it): nothing is committed, nothing stored."""
    settings.MEDIA_ROOT = tmp_path / "media"
    upload = SimpleUploadedFile("bomb.xlsx", bombs.declared_size(valid, bombs.SHEET, GB))
    with pytest.raises(ValidationError):
        import_job_start(actor=commune_officer, kind="residents", upload=upload, file_name="bomb.xlsx")
    assert not BackgroundJob.objects.exists()
    assert not any(p.is_file() for p in (tmp_path / "media").rglob("*"))
