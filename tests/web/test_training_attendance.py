"""Training attendance as people meet it (issue 16 item 11): the skill's population only, a session counted once."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from fieldteam.choices import Sex
from fieldteam.models import TrainingSession
from fieldteam.periods import today
from fieldteam.selectors.web import my_work
from fieldteam.services.training import record_training_session
from tests.clock import earlier_today
from tests.factories import IndicatorFactory, ResidentFactory
from tests.web.conftest import WebWorld

pytestmark = pytest.mark.django_db


@pytest.fixture
def skills_counted(web_world: WebWorld) -> None:
    IndicatorFactory(code="skills_15plus", capability=web_world.skills, min_age=15)


def _session(web_world: WebWorld, attendees: list) -> TrainingSession:
    return record_training_session(
        actor=web_world.member,
        team=web_world.team,
        village=web_world.village,
        topic="Kỹ năng số cơ bản",
        started_at=earlier_today(),
        capability=web_world.skills,
        attendees=attendees,
    )


def test_a_toddler_is_refused_and_nothing_is_saved(web_world: WebWorld, skills_counted) -> None:
    toddler = ResidentFactory(household=web_world.household, full_name="Rơ Mah Bé", sex=Sex.MALE, birth_year=today().year - 2)
    with pytest.raises(ValidationError) as refused:
        _session(web_world, [web_world.residents[0], toddler])
    assert refused.value.error_dict["attendees[1]"][0].code == "not_in_population"
    assert "Rơ Mah Bé" in refused.value.messages[0]
    assert not TrainingSession.objects.exists()


def test_a_session_is_one_help_given_however_many_attend(web_world: WebWorld, skills_counted) -> None:
    _session(web_world, web_world.residents)
    work = my_work(user=web_world.member)
    assert work.today.logs == 1  # one session, not one per attendee
    assert work.today.people == 3  # each attendee was helped
    assert work.month.trainings == 1


def test_the_training_page_offers_only_the_population(web_world: WebWorld, skills_counted, client) -> None:
    client.force_login(web_world.member)
    response = client.get(reverse("web:training"))
    bounds = response.context["populations"]["basic_digital_skills"]
    # Born in January 15 years ago: 15 by the end of this month, so that year is offered, and no later one.
    assert bounds[Sex.MALE][1] == bounds[Sex.FEMALE][1] == today().year - 15
    assert "smartphone" in response.context["populations"]  # the smartphone indicator counts adults
