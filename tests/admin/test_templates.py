"""Every page is rendered from a template file, where the checks of templates can see it.

``tests/security/test_hardening.py`` reads every file under ``fieldteam/templates/`` for what the
Content-Security-Policy would refuse (inline styles, handlers, scripts); a template held in a Python
string (``engines["django"].from_string``, ``Template("…")``) escapes it, as the admin's own pages
once did with three inline style attributes the browser then refused.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_IN_PYTHON = re.compile(r"\.from_string\(|\bengines\[|\bTemplate\(")


def test_no_template_is_held_in_a_python_string() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "fieldteam").rglob("*.py"))
        if "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if TEMPLATE_IN_PYTHON.search(line)
    ]
    assert found == []
