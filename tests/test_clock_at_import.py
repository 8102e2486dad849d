"""No test module reads the clock when it is imported.

pytest imports every module (collection) before it runs the first test, and with xdist a worker may
run a module's tests minutes later: a date computed at import ("tomorrow", "this month") is then a
day or a month off when the run crosses midnight in Asia/Ho_Chi_Minh (17:00 UTC), which is how
``tests/services/test_teams.py`` once failed CI. Module constants, class attributes, decorator
arguments (``parametrize``) and default argument values are all evaluated at import; read the clock
inside the test or a fixture instead.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import clock

TESTS = Path(__file__).parent
# The calls that read the clock: ``today()``, ``timezone.localdate()``, ``timezone.now()``,
# ``date.today()``, ``datetime.now()`` / ``utcnow()``, ``reports.today()``... and every helper of
# ``tests.clock`` (``last_month()``...).
CLOCK_CALLS = {"today", "localdate", "now", "utcnow", "localtime"} | {
    name for name, value in vars(clock).items() if inspect.isfunction(value) and value.__module__ == clock.__name__
}


def _clock_calls(node: ast.AST) -> Iterator[ast.Call]:
    """Calls of the clock in ``node``, not looking into a ``lambda`` (evaluated when called)."""
    if isinstance(node, ast.Lambda):
        return
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name in CLOCK_CALLS:
            yield node
    for child in ast.iter_child_nodes(node):
        yield from _clock_calls(child)


def _evaluated_at_import(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The expressions of a module or class body that run when it is imported."""
    for statement in body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from statement.decorator_list
            yield from statement.args.defaults
            yield from (default for default in statement.args.kw_defaults if default is not None)
        elif isinstance(statement, ast.ClassDef):
            yield from statement.decorator_list
            yield from _evaluated_at_import(statement.body)
        elif isinstance(statement, ast.Assign | ast.AnnAssign | ast.Expr):
            yield statement


def _offenders() -> list[str]:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _evaluated_at_import(tree.body):
            found += [f"{path.relative_to(TESTS.parent)}:{call.lineno}" for call in _clock_calls(node)]
    return found


def test_no_test_module_reads_the_clock_at_import() -> None:
    assert _offenders() == []


@pytest.mark.parametrize(
    "source",
    [
        "TOMORROW = timezone.localdate() + dt.timedelta(days=1)",
        "@pytest.mark.parametrize('day', [today()])\ndef test(day): ...",
        "def helper(when=timezone.now()): ...",
        "def url(month=f'{last_month():%Y-%m}'): ...",
        "class Case:\n    MONTH = reports.today().replace(day=1)",
    ],
)
def test_the_check_finds_each_kind_of_import_time_read(source: str) -> None:
    tree = ast.parse(source)
    assert [call for node in _evaluated_at_import(tree.body) for call in _clock_calls(node)]


def test_the_check_leaves_reads_at_run_time_alone() -> None:
    source = "def tomorrow():\n    return timezone.localdate() + ONE_DAY\nLATER = lambda: timezone.now()"
    tree = ast.parse(source)
    assert not [call for node in _evaluated_at_import(tree.body) for call in _clock_calls(node)]
