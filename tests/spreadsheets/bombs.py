"""Spreadsheet bombs and other hostile uploads, made small and fast in the tests themselves."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook

SHEET = "xl/worksheets/sheet1.xml"
_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
_ROW = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>'


def xlsx(headers: Sequence[Any], rows: Sequence[Sequence[Any]] = ()) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _rebuild(valid: bytes, replace: dict[str, Any], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(valid)) as source, zipfile.ZipFile(buffer, "w", compression) as target:
        for info in source.infolist():
            content = replace.get(info.filename, source.read(info.filename))
            if callable(content):
                with target.open(info.filename, "w") as out:
                    content(out)
            else:
                target.writestr(info.filename, content)
    return buffer.getvalue()


def repeated_rows(valid: bytes, unpacked_bytes: int) -> bytes:
    """``valid`` with its sheet replaced by the same row repeated until it unpacks to ``unpacked_bytes``."""
    chunk = _ROW * 20000

    def write(out: Any) -> None:
        out.write(_HEAD)
        written = 0
        while written < unpacked_bytes:
            out.write(chunk)
            written += len(chunk)
        out.write(b"</sheetData></worksheet>")

    return _rebuild(valid, {SHEET: write})


def declared_size(content: bytes, member: str, size: int) -> bytes:
    """``content`` with ``member``'s uncompressed size rewritten to ``size`` in both zip headers."""
    data = bytearray(content)
    info = zipfile.ZipFile(io.BytesIO(content)).getinfo(member)
    data[info.header_offset + 22 : info.header_offset + 26] = struct.pack("<I", size)
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        length = struct.unpack("<H", data[at + 28 : at + 30])[0]
        if bytes(data[at + 46 : at + 46 + length]).decode() == member:
            data[at + 24 : at + 28] = struct.pack("<I", size)
        at += 4
    return bytes(data)


def many_members(valid: bytes, count: int) -> bytes:
    return with_members(valid, {f"xl/media/x{n}.bin": b"" for n in range(count)})


def with_members(valid: bytes, extra: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO(valid)
    with zipfile.ZipFile(buffer, "a") as archive:
        for name, data in extra.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def bzip2(valid: bytes) -> bytes:
    return _rebuild(valid, {}, compression=zipfile.ZIP_BZIP2)
