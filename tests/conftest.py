"""Shared fixtures and suite-wide set-up.

- Hypothesis: no per-example deadline (a cold database or a busy CI machine is not a bug); set
  ``HYPOTHESIS_PROFILE=ci`` for more examples.
- Celery tasks run eagerly in every test, also when ``REDIS_URL`` is set (the PostgreSQL + Redis
  run of ``.ci/run``), so a test sees a task's effect; tests marked ``celery_worker`` opt out.
- Each test gets its own cache key prefix, so tests (and xdist workers sharing one Redis) never see
  each other's cache entries.
- ``postgres_only`` tests are skipped on SQLite; ``celery_worker`` tests without ``REDIS_URL``.
"""

from __future__ import annotations

import copy
import os
import uuid
from dataclasses import dataclass
from types import ModuleType

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
