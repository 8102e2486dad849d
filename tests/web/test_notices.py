"""The notice band of the field app (issue 17): overdue follow-ups on top of the home page, with the
time they were drawn (a page the phone cached and shows offline says how old it is)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from fieldteam.choices import NotDoneReason
from fieldteam.models import User
from tests.web.conftest import WebWorld
from tests.web.test_follow_ups import client_of, log

pytestmark = pytest.mark.django_db


def home(user: User) -> str:
    return client_of(user).get(reverse("web:home"), HTTP_ACCEPT_LANGUAGE="vi").content.decode()


def test_the_home_page_opens_with_the_overdue_follow_ups_and_when_they_were_counted(web_world: WebWorld) -> None:
    log(web_world, web_world.residents[0], web_world.smartphone, 5, NotDoneReason.ABSENT)
    html = home(web_world.member)
    band = html[html.index('class="notices"') : html.index("</section>", html.index('class="notices"'))]
    assert 'data-kind="overdue_follow_ups"' in band
    assert "1 lượt hẹn quay lại đã quá hạn" in band
    # It links to the work list that shows them, on the same page, and comes before everything else.
    assert f'href="{reverse("web:home")}#work-{web_world.village.pk}"' in band
    assert f'id="work-{web_world.village.pk}"' in html
    assert html.index('class="notices"') < html.index('class="hello"')
    # "As of" the local time of drawing: a copy shown offline later says how old it is.
    now = timezone.localtime()
    assert re.search(r"Cập nhật lúc \d\d:\d\d, ngày ", band)
    drawn = dt.datetime.fromisoformat(re.search(r'data-as-of="([^"]+)"', band)[1])
    assert abs((drawn - now).total_seconds()) < 120


def test_no_band_without_anything_overdue(web_world: WebWorld) -> None:
    log(web_world, web_world.residents[0], web_world.smartphone, 1, NotDoneReason.ABSENT)  # due in 2 days
    assert 'class="notices"' not in home(web_world.member)


def test_only_the_home_page_reads_the_notices(web_world: WebWorld) -> None:
    log(web_world, web_world.residents[0], web_world.smartphone, 5, NotDoneReason.ABSENT)
    client = client_of(web_world.member)
    for name in ("web:search", "web:history", "web:outbox", "web:offline"):
        assert 'class="notices"' not in client.get(reverse(name)).content.decode(), name
