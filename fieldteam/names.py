"""People's names: one stored form, and one folded form that search and duplicate detection compare.

A name reaches the server composed (NFC) from one keyboard and decomposed (NFD) from another, with
zero-width or bidirectional-control characters pasted along. Stored as typed, "Nguyễn" in NFC and in
NFD would be two people to duplicate detection and one would not find the other. So:

- ``normalise_name``: what every writer of a name stores (residents, heads of household): NFC,
  without invisible format characters (zero-width, bidi controls, soft hyphen: Unicode category
  ``Cf``) or control characters, spaces collapsed.
- ``fold_name``: what search and duplicate detection compare, computed in Python the same way for
  the stored column (``Resident.search_name``) and for the query, so both databases (SQLite's
  ``LIKE`` folds only ASCII case) answer alike: lower case, no diacritics, ``đ`` → ``d``.
"""

from __future__ import annotations

import unicodedata


def _visible(ch: str) -> bool:
    # Cf: zero-width space/joiners, bidi embeddings, overrides and isolates, BOM, soft hyphen.
    # Cc: controls (tabs and newlines are whitespace and were already collapsed).
    return unicodedata.category(ch) not in ("Cf", "Cc")


def normalise_name(text: str | None) -> str:
    """The stored form of a name: NFC, invisible and control characters removed, spaces collapsed."""
    if not text:
        return ""
    composed = unicodedata.normalize("NFC", str(text))
    if composed.isprintable():
        # No Cc or Cf character in it (both are unprintable): only the spaces to collapse. The
        # character-by-character filter costs an import of 100,000 rows about a second.
        return " ".join(composed.split())
    return " ".join("".join(ch for ch in composed if _visible(ch) or ch.isspace()).split())


def fold_name(text: str | None) -> str:
    """The form names are compared in: ``"  NGUYỄN  Đức"`` (NFC or NFD) → ``"nguyen duc"``."""
    value = normalise_name(text).replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", value)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch))).casefold()


def display_name(*, family: str | None, given: str | None) -> str:
    """A person's name as shown everywhere: family name first, as Vietnamese write it.

    A user has two fields (``last_name``: family and middle names, ``first_name``: the given name):
    ``display_name(family="Trần Thu", given="Hà")`` → ``"Trần Thu Hà"``. A name entered whole in
    one field (an ethnic-minority name in its own order, "Y Blih Niê") shows as entered. A
    resident's ``full_name`` is one field, shown as entered.
    """
    return " ".join(part for part in (normalise_name(family), normalise_name(given)) if part)
