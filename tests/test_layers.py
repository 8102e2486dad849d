"""fieldteam's modules form layers without cycles (STYLE habit 16).

import-linter holds the layers and the absence of cycles (``[tool.importlinter]`` in
pyproject.toml; grimp reads imports inside functions too). What it does not forbid is checked
here, by reading every module with ``ast``:

- no import of fieldteam's own code inside a function: a cycle dodged that way is code in the wrong
  layer. The one exception is ``AppConfig.ready``, Django's place for what needs the models loaded.
  (A function-local import of an optional or heavy third-party library is not fieldteam's and is
  left alone.)
- no module over 800 lines, migrations excepted.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fieldteam"
MAX_LINES = 800
# (module path relative to the repository, function name): where a function-local import is right.
ALLOWED_LOCAL = {("fieldteam/apps.py", "ready")}


def _modules(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*.py") if "migrations" not in p.relative_to(package).parts)


def _is_own(node: ast.Import | ast.ImportFrom, package_name: str) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == package_name
    return any(alias.name.split(".")[0] == package_name for alias in node.names)


def function_local_imports(package: Path, root: Path) -> list[str]:
    """``path:line in function: statement`` for every import of the package's own code inside a function."""
    found = []
    for path in _modules(package):
        relative = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(), filename=relative)
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if (relative, function.name) in ALLOWED_LOCAL:
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom) and _is_own(node, package.name):
                    found.append(f"{relative}:{node.lineno} in {function.name}(): {ast.unparse(node)}")
    return sorted(set(found))


def long_modules(package: Path, root: Path) -> list[str]:
    """``path: n lines`` for every module over ``MAX_LINES`` lines."""
    long = []
    for path in _modules(package):
        count = len(path.read_text().splitlines())
        if count > MAX_LINES:
            long.append(f"{path.relative_to(root).as_posix()}: {count} lines")
    return long


def test_no_import_of_fieldteam_inside_a_function() -> None:
    assert function_local_imports(PACKAGE, ROOT) == []


def test_no_module_over_800_lines() -> None:
    assert long_modules(PACKAGE, ROOT) == []


def test_the_import_contracts_hold() -> None:
    """The same run as ``make lint-imports``, so that ``make test`` alone keeps the layers."""
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.fail(f"{lint} is missing: pip install -r requirements-dev.txt")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603 (our own tool, fixed arguments)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    """The checks above can fail: a local import, a relative one, and a long module are all reported."""
    package = tmp_path / "fieldteam"
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "apps.py").write_text("class C:\n    def ready(self):\n        from fieldteam import audit\n")
    (package / "a.py").write_text(
        "import json\n\n\ndef f():\n    from fieldteam.b import g\n    import json\n    return g\n\n\n"
        "class K:\n    def m(self):\n        from . import b\n        return b\n"
    )
    (package / "b.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (package / "migrations" / "0001_long.py").write_text("x = 1\n" * (MAX_LINES + 1))

    assert function_local_imports(package, tmp_path) == [
        "fieldteam/a.py:12 in m(): from . import b",
        "fieldteam/a.py:5 in f(): from fieldteam.b import g",
    ]
    assert long_modules(package, tmp_path) == [f"fieldteam/b.py: {MAX_LINES + 1} lines"]
