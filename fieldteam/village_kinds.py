"""The words local lists use for a village's kind, read into a kind (``AreaKind``) and a local word.

Circular 04/2012/TT-BNV (art. 2) names two kinds of village-level unit and lets each place keep its
own word: "thôn, làng, ấp, bản, buôn, bon, phum, sóc, …" are all *thôn*; "tổ dân phố, khu phố,
khối phố, khóm, tiểu khu, …" are all *tổ dân phố*. So every kind DESIGN.md §6 lists is a kind of
its own, written with or without diacritics and in any case; a word none of them matches is not
refused: it is kept as the village's local kind word, under the generic kind of its place (thôn in
a commune or special zone, tổ dân phố in a ward). Nothing is counted by kind, so the generic kind
changes no figure, and the list's own word is what is shown and exported.
"""

from __future__ import annotations

from fieldteam.choices import AreaKind
from fieldteam.names import fold_name, normalise_name

LOCAL_WORD_MAX_LENGTH = 40

# What lists write, first the word exports use for each kind.
WORDS: tuple[tuple[str, AreaKind], ...] = (
    ("Thôn", AreaKind.THON),
    ("Bản", AreaKind.BAN),
    ("Làng", AreaKind.LANG),
    ("Buôn", AreaKind.BUON),
    ("Plei", AreaKind.PLEI),
    ("Bon", AreaKind.BON),
    ("Ấp", AreaKind.AP),
    ("Sóc", AreaKind.SOC),
    ("Xóm", AreaKind.XOM),
    ("Khóm", AreaKind.KHOM),
    ("Tổ dân phố", AreaKind.TO_DAN_PHO),
    ("Khu phố", AreaKind.KHU_PHO),
    ("Khối phố", AreaKind.KHOI_PHO),
    ("Tiểu khu", AreaKind.TIEU_KHU),
    ("Khu vực", AreaKind.KHU_VUC),
    # Other spellings and abbreviations seen in lists.
    ("Plơi", AreaKind.PLEI),
    ("Pơlei", AreaKind.PLEI),
    ("TDP", AreaKind.TO_DAN_PHO),
    ("Tổ", AreaKind.TO_DAN_PHO),
)

_BY_FOLDED: dict[str, str] = {fold_name(word): kind for word, kind in WORDS}
WRITTEN: dict[str, str] = {kind: word for word, kind in reversed(WORDS)}


def read_village_kind(word: str, *, in_ward: bool) -> tuple[str, str]:
    """``(kind, local word)`` for what a list wrote: ``("khoi_pho", "")`` for "KHOI PHO";
    ``("thon", "Phum")`` for "phum" in a commune; ``("to_dan_pho", "Cụm dân cư")`` in a ward.

    ``word`` is not blank and holds a letter (the caller says so otherwise).
    """
    kind = _BY_FOLDED.get(fold_name(word))
    if kind is not None:
        return kind, ""
    local = normalise_name(word)
    return (AreaKind.TO_DAN_PHO if in_ward else AreaKind.THON), local[:1].upper() + local[1:]


def is_kind_word(word: str) -> bool:
    """Whether ``word`` can name a kind: it holds a letter and fits the local word's column."""
    text = normalise_name(word)
    return any(ch.isalpha() for ch in text) and len(text) <= LOCAL_WORD_MAX_LENGTH


def written_kind(kind: str, local_word: str = "") -> str:
    """How a village's kind is written out: the list's own word if it had one, else the kind's."""
    return local_word or WRITTEN.get(kind, kind)
