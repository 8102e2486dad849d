"""Shared fixtures and suite-wide set-up.

- Hypothesis: no per-example deadline (a cold database or a busy CI machine is not a bug); set
  ``HYPOTHESIS_PROFILE=ci`` for more examples.
- Celery tasks run eagerly in every test, also when ``REDIS_URL`` is set (the PostgreSQL + Redis
  run of ``.ci/run``), so a test sees a task's effect; tests marked ``celery_worker`` opt out.
- Each test gets its own cache key prefix, so tests (and xdist workers sharing one Redis) never see
  each other's cache entries.
- ``postgres_only`` tests are skipped on SQLite; ``celery_worker`` tests without ``REDIS_URL``.
- Every process-wide cache is emptied before and after each test (``_fresh_process_caches``): a
  test never meets the rows of another test's database.
- On PostgreSQL, a test in which the ORM path wrote an assistance log while the one statement
  (``fieldteam.rollup.fastlog``) was on fails, unless marked ``log_fallback(reason)``:
  the fast path is exercised by every test that logs. ``log_path`` runs a test with the statement
  on and off.
- freezegun leaves pytest's own clock alone (``_pytest.timing`` on its ignore list), so a frozen
  test still reports its real duration under ``--durations``.
"""

from __future__ import annotations

import copy
import os
import uuid
from dataclasses import dataclass
from types import ModuleType

import freezegun
import pytest
from django.conf import settings as django_settings
from hypothesis import settings as hypothesis_settings

from fieldteam.choices import AreaRoleKind, MembershipRole
from fieldteam.models import Area, Team, User
from tests.factories import (
    AreaRoleFactory,
    CommuneFactory,
    MembershipFactory,
    ProvinceFactory,
    TeamFactory,
    UserFactory,
    VillageFactory,
)

hypothesis_settings.register_profile("default", deadline=None, print_blob=True)
hypothesis_settings.register_profile("ci", deadline=None, print_blob=True, max_examples=300)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# pytest times each phase with ``_pytest.timing.perf_counter``; freezegun would replace it too (its
# default ignore list names ``_pytest.runner.`` but not ``_pytest.timing``), and ``--durations``
# would print the frozen date's distance from the real clock. Only that module: freezegun gives real
# time to any call with an ignored module among its five nearest frames, and ``_pytest.python``
# is right under every test function.
freezegun.configure(extend_ignore_list=["_pytest.timing"])


def _on_postgresql() -> bool:
    return django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgresql = _on_postgresql()
    has_broker = bool(getattr(django_settings, "REDIS_URL", ""))
    for item in items:
        if not on_postgresql and item.get_closest_marker("postgres_only"):
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)"))
        if not has_broker and item.get_closest_marker("celery_worker"):
            item.add_marker(pytest.mark.skip(reason="needs a Celery broker (set REDIS_URL=redis://...)"))


@pytest.fixture(autouse=True)
def _celery_eager(request: pytest.FixtureRequest):
    """Run tasks in-process unless the test asks for a real worker."""
    if request.node.get_closest_marker("celery_worker"):
        yield
        return
    from backend.celery import app

    saved = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """A fresh key prefix per test: a clean cache without flushing a Redis shared by other workers."""
    caches = copy.deepcopy(settings.CACHES)
    prefix = f"test:{os.environ.get('PYTEST_XDIST_WORKER', 'main')}:{uuid.uuid4().hex[:12]}"
    for cache in caches.values():
        cache["KEY_PREFIX"] = prefix
    settings.CACHES = caches


def clear_process_caches() -> None:
    """Empty every cache that outlives a test in this process (``grep -rn "lru_cache\\|_catalogue\\|_LATEST"``)."""
    from django.contrib.contenttypes.models import ContentType

    from fieldteam import identifiers, province_cache
    from fieldteam.resources import base as resources_base
    from fieldteam.rollup import fastlog, rules
    from fieldteam.selectors import frames, population
    from fieldteam.web import common as web_common

    rules.clear_caches()
    population.clear_caches()
    frames.clear_caches()
    province_cache.MONTH_HISTORY.clear()
    fastlog.clear_caches()
    ContentType.objects.clear_cache()
    identifiers._fernet.cache_clear()
    identifiers._current_fernet.cache_clear()
    web_common._cached_digest.cache_clear()
    resources_base._fold_text.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Each test starts and ends with no process-wide cache holding rows (of its database or another)."""
    clear_process_caches()
    yield
    clear_process_caches()


@pytest.fixture(autouse=True)
def _logs_take_the_one_statement(request: pytest.FixtureRequest):
    """On PostgreSQL, fail a test whose logs the ORM path wrote with the one statement on, unless marked.

    ``fastlog.USE`` counts which way each log went; a test about the fallback says so with
    ``@pytest.mark.log_fallback("why")``.
    """
    from fieldteam.rollup import fastlog

    fastlog.USE.reset()
    yield
    use = fastlog.USE
    if not _on_postgresql() or request.node.get_closest_marker("log_fallback"):
        return
    if use.by_orm or use.missing:
        pytest.fail(
            f"{use.by_orm} assistance log(s) written by the ORM path with LOG_IN_ONE_STATEMENT on "
            f"({use.written} by the statement, {use.refused} refused by it, {use.missing} calls to a function "
            f"not installed): {use.reasons[:3]}. Fix the fast path, or mark the test log_fallback(reason).",
            pytrace=False,
        )


@pytest.fixture(params=["one_statement", "orm"])
def log_path(request: pytest.FixtureRequest, settings) -> str:
    """Run the test with assistance logs written by the one statement, then by the ORM path.

    Both must meet the same assertions. The statement exists on PostgreSQL only: its run is skipped
    on SQLite, where the other run already covers the ORM path.
    """
    if request.param == "one_statement" and not _on_postgresql():
        pytest.skip("the one-statement log exists on PostgreSQL only")
    settings.FIELDTEAM_LOG_IN_ONE_STATEMENT = request.param == "one_statement"
    return request.param


@pytest.fixture(params=["function", "statement_text"])
def deltas_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with the counts' incremental writes (``rules.apply_deltas``) through the installed
    function, then as the statement sent as text (a database not yet migrated to this code's function).

    Both must meet the same assertions. The function exists on PostgreSQL only: its run is skipped on
    SQLite, where the other run covers SQLite's own statements.
    """
    from fieldteam.rollup import rules

    if request.param == "function" and not _on_postgresql():
        pytest.skip("the counts' function exists on PostgreSQL only")
    if request.param == "statement_text":
        monkeypatch.setattr(rules, "_deltas_function_installed", lambda: False)
    return request.param


@pytest.fixture
def people_services() -> ModuleType:
    """``fieldteam.services.people``, or skip the test while that module does not exist yet."""
    return pytest.importorskip("fieldteam.services.people")


# --- a small area tree and the people who look at it ---------------------------------------------


@dataclass
class AreaTree:
    """province ─┬─ commune ─┬─ village
              │           └─ village2
              └─ other_commune ── other_village
    other_province ── far_commune ── far_village
    """

    province: Area
    commune: Area
    village: Area
    village2: Area
    other_commune: Area
    other_village: Area
    other_province: Area
    far_commune: Area
    far_village: Area

    def refresh(self) -> AreaTree:
        """Reload every node (treebeard may have moved paths or counted children since)."""
        for node in vars(self).values():
            node.refresh_from_db()
        return self


@pytest.fixture
def area_tree(db) -> AreaTree:
    province = ProvinceFactory(name="Gia Lai")
    commune = CommuneFactory(parent=province, name="Xã Ia Grai")
    village = VillageFactory(parent=commune, name="Thôn 1")
    village2 = VillageFactory(parent=commune, name="Thôn 2")
    other_commune = CommuneFactory(parent=province, name="Xã Ia Hrung")
    other_village = VillageFactory(parent=other_commune, name="Làng Dố")
    other_province = ProvinceFactory(name="Sơn La")
    far_commune = CommuneFactory(parent=other_province, name="Xã Chiềng Sinh")
    far_village = VillageFactory(parent=far_commune, name="Bản Hài")
    return AreaTree(
        province=province,
        commune=commune,
        village=village,
        village2=village2,
        other_commune=other_commune,
        other_village=other_village,
        other_province=other_province,
        far_commune=far_commune,
        far_village=far_village,
    ).refresh()


@pytest.fixture
def superuser(db) -> User:
    return UserFactory(username="admin", superuser=True)


@pytest.fixture
def commune_officer(area_tree: AreaTree) -> User:
    """A staff user with the commune-officer role on ``area_tree.commune``."""
    return AreaRoleFactory(area=area_tree.commune, role=AreaRoleKind.COMMUNE_OFFICER).user


@pytest.fixture
def province_officer(area_tree: AreaTree) -> User:
    """A staff user with the province-officer role on ``area_tree.province``."""
    return AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.PROVINCE_OFFICER).user


@pytest.fixture
def team(area_tree: AreaTree) -> Team:
    """The team of ``area_tree.village``."""
    return TeamFactory(village=area_tree.village)


@pytest.fixture
def member(team: Team) -> User:
    """A team member (open membership) of ``team``."""
    return MembershipFactory(team=team, role=MembershipRole.MEMBER).user


@pytest.fixture
def leader(team: Team) -> User:
    """The leader of ``team``."""
    return MembershipFactory(team=team, role=MembershipRole.LEADER).user
