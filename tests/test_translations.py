"""Every user-facing string reaches the Vietnamese catalogue (issue 16, Language).

CI's completeness check (``.ci/run``) runs ``makemessages`` and counts untranslated entries, so it
sees only what ``xgettext`` extracts: a call of a known keyword (``_``, ``gettext``,
``gettext_lazy``, ``ngettext``, ``pgettext`` …) whose message is a string literal. A string escapes
it when the function is imported under another name (``gettext as _t``), kept in a variable or
passed along (``labels = map(_, names)``), or called on a string built at run time (``_(name)``,
``_(f"…")``, ``_("a" + b)``). Those escapes are found here by reading every module with ``ast``;
every literal message found is then looked up in ``locale/vi/LC_MESSAGES/django.po`` (translated,
not fuzzy), and the templates' ``{% translate %}`` tags are held to literals too.

What is shown on the pages is checked by ``tests/test_pages_language.py`` (a word list).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fieldteam"
PO_FILE = ROOT / "locale" / "vi" / "LC_MESSAGES" / "django.po"
TEMPLATES = PACKAGE / "templates"

# The gettext family, with the positions of its message arguments (context first for p*).
MESSAGE_ARGS: dict[str, tuple[int, ...]] = {
    "gettext": (0,),
    "gettext_lazy": (0,),
    "gettext_noop": (0,),
    "ngettext": (0, 1),
    "ngettext_lazy": (0, 1),
    "pgettext": (0, 1),
    "pgettext_lazy": (0, 1),
    "npgettext": (0, 1, 2),
    "npgettext_lazy": (0, 1, 2),
}
# The one alias makemessages extracts besides the functions' own names: ``_`` (one message).
UNDERSCORE_OK = {"gettext", "gettext_lazy", "gettext_noop"}
TRANSLATION_MODULE = "django.utils.translation"


@dataclass
class Scan:
    problems: list[str] = field(default_factory=list)
    # (context or None, msgid, msgid_plural or None) -> first place it is used
    messages: dict[tuple[str | None, str, str | None], str] = field(default_factory=dict)


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.relative_to(PACKAGE).parts)


def _literal(node: ast.expr) -> str | None:
    # Implicit concatenation ("a" "b") is one Constant in the tree, and xgettext joins it too.
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _bindings(tree: ast.Module, where: str, scan: Scan) -> tuple[dict[str, str], set[str]]:
    """The names the module binds to gettext functions, and to ``django.utils.translation`` itself."""
    bound: dict[str, str] = {}
    module_names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == TRANSLATION_MODULE:
            for alias in node.names:
                if alias.name not in MESSAGE_ARGS and alias.name != "*":
                    continue
                local = alias.asname or alias.name
                if alias.name == "*" or not (local == alias.name or (local == "_" and alias.name in UNDERSCORE_OK)):
                    scan.problems.append(
                        f"{where}:{node.lineno}: `{ast.unparse(node)}`: makemessages does not extract "
                        f"`{local}(...)`; import it as `_` or under its own name"
                    )
                bound[local] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module == "django.utils":
            module_names.update(a.asname or a.name for a in node.names if a.name == "translation")
        elif isinstance(node, ast.Import):
            module_names.update(a.asname for a in node.names if a.name == TRANSLATION_MODULE and a.asname)
    return bound, module_names


def _function(node: ast.expr, bound: dict[str, str], module_names: set[str]) -> str | None:
    """The gettext function ``node`` names (``_``, ``gettext``, ``translation.gettext``…), else ``None``."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        return bound.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in module_names:
        return node.attr if node.attr in MESSAGE_ARGS else None
    return None


def _record_call(node: ast.Call, function: str, where: str, scan: Scan) -> None:
    values = [_literal(node.args[i]) if i < len(node.args) else None for i in MESSAGE_ARGS[function]]
    strings = [v for v in values if v is not None]
    if len(strings) < len(values) or node.keywords:
        scan.problems.append(
            f"{where}:{node.lineno}: `{ast.unparse(node)[:100]}`: the message must be a string "
            "literal (a string built at run time is never extracted nor translated)"
        )
        return
    if function.startswith(("p", "np")):
        context, msgid, plural = strings[0], strings[1], (strings[2] if len(strings) > 2 else None)
    else:
        context, msgid, plural = None, strings[0], (strings[1] if len(strings) > 1 else None)
    scan.messages.setdefault((context, msgid, plural), f"{where}:{node.lineno}")


def scan_module(source: str, where: str, scan: Scan) -> None:
    """Record in ``scan`` the gettext calls of one module and every way a message escapes extraction."""
    tree = ast.parse(source, filename=where)
    bound, module_names = _bindings(tree, where, scan)
    called: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = _function(node.func, bound, module_names)
            if function is not None:
                called.add(id(node.func))
                _record_call(node, function, where, scan)
    # A gettext function used other than by calling it (kept in a variable, passed to map(), a
    # default argument…) translates whatever it is later given: never extracted.
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Name | ast.Attribute)
            and id(node) not in called
            and _function(node, bound, module_names) is not None
        ):
            scan.problems.append(
                f"{where}:{node.lineno}: `{ast.unparse(node)}` used without a literal call: pass the message itself"
            )


def scan_package() -> Scan:
    scan = Scan()
    for path in _modules():
        scan_module(path.read_text(), path.relative_to(ROOT).as_posix(), scan)
    return scan


# {% translate x %} / {% trans x %}: x must be a quoted literal (a variable is never extracted).
_TRANSLATE_TAG = re.compile(r"{%-?\s*(?:translate|trans)\s+(.+?)\s*-?%}", re.DOTALL)
_QUOTED = re.compile(r"""^(?:"[^"]*"|'[^']*')(?:\s+(?:context\s+(?:"[^"]*"|'[^']*')|noop|as\s+\w+))*$""")


def template_problems() -> list[str]:
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")) + sorted(TEMPLATES.rglob("*.txt")):
        text = path.read_text()
        for match in _TRANSLATE_TAG.finditer(text):
            if not _QUOTED.match(match[1].strip()):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {match[0]}: translate a literal, not a variable")
    return found


_PO_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_PO_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _po_text(lines: list[str]) -> str:
    joined = "".join(m[1] for line in lines for m in [_PO_STRING.search(line)] if m)
    return re.sub(r"\\(.)", lambda m: _PO_ESCAPES.get(m[1], m[0]), joined)


def translated_messages(po: str) -> set[tuple[str | None, str, str | None]]:
    """(context, msgid, plural) of every entry of a .po text that is translated and not fuzzy."""
    found = set()
    for block in po.split("\n\n"):
        lines = [line for line in block.splitlines() if line.strip()]
        if any(line.startswith("#~") for line in lines) or any(
            line.startswith("#,") and "fuzzy" in line for line in lines
        ):
            continue
        parts: dict[str, list[str]] = {}
        key = ""
        for line in lines:
            if line.startswith("#"):
                continue
            if not line.startswith('"'):
                key = line.split(" ", 1)[0]
            parts.setdefault(key, []).append(line)
        if "msgid" not in parts:
            continue
        strings = {k: _po_text(v) for k, v in parts.items()}
        targets = [v for k, v in strings.items() if k.startswith("msgstr")]
        if targets and all(targets):
            found.add((strings.get("msgctxt"), strings["msgid"], strings.get("msgid_plural")))
    return found


# --- the checks themselves, on small examples ------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "from django.utils.translation import gettext as _t\n_t('Upload')\n",
        "from django.utils.translation import gettext_lazy as gl\ngl('Upload')\n",
        "from django.utils.translation import ngettext as _\n_('a', 'b', 2)\n",
        "from django.utils.translation import gettext as _\n_(name)\n",
        "from django.utils.translation import gettext as _\n_(f'Import {what}')\n",
        "from django.utils.translation import gettext as _\n_('Import ' + what)\n",
        "from django.utils.translation import gettext as _\n_('Import %s' % what)\n",
        "from django.utils.translation import gettext as _\nlabels = list(map(_, names))\n",
        "from django.utils.translation import gettext\ntranslate = gettext\n",
        "from django.utils.translation import ngettext\nngettext(one, 'many', n)\n",
        "from django.utils.translation import pgettext\npgettext('month', name)\n",
        "from django.utils import translation\ntranslation.gettext(label)\n",
        "from django.utils import translation as tr\nf = tr.gettext_lazy\n",
        "from django.utils.translation import *\n",
    ],
)
def test_an_escape_from_extraction_is_found(source: str) -> None:
    scan = Scan()
    scan_module(source, "example.py", scan)
    assert scan.problems


def test_literal_calls_pass_and_are_collected() -> None:
    scan = Scan()
    scan_module(
        "from django.utils.translation import gettext as _, gettext_lazy, ngettext, pgettext\n"
        "_('Upload')\ngettext_lazy('Import' ' now')\nngettext('%(n)s row', '%(n)s rows', n)\n"
        "pgettext('month', 'May')\n",
        "example.py",
        scan,
    )
    assert scan.problems == []
    assert set(scan.messages) == {
        (None, "Upload", None),
        (None, "Import now", None),
        (None, "%(n)s row", "%(n)s rows"),
        ("month", "May", None),
    }


# --- the code base -----------------------------------------------------------------------------------


def test_every_message_in_the_code_is_extractable() -> None:
    assert scan_package().problems == []


def test_every_template_translates_literals() -> None:
    assert template_problems() == []


def test_every_message_in_the_code_is_translated() -> None:
    translated = translated_messages(PO_FILE.read_text())
    missing = [
        f"{where}: {msgid!r}"
        for (ctx, msgid, plural), where in scan_package().messages.items()
        if (ctx, msgid, plural) not in translated
    ]
    assert sorted(missing) == []
