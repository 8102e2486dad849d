"""API tokens and sessions end with the credentials they were made with (issue 13, item 6).

Every way a password or ``is_active`` changes is attacked: a token and a second session made
before the change must be dead after it, and a deactivated user who is reactivated comes back with
neither. The ways: self-service (the admin's "change password"), an officer's or a superuser's
"set password" and "no password" in admin, the admin change form (``is_active``), the
``changepassword`` command, ``set_password`` + ``save()`` (what services and the demo do), and
``QuerySet.update`` / ``bulk_update``. ``test_every_password_route_is_attacked`` walks the URL
resolver so that a password route added later (a reset flow, say) fails until it is covered here.
All run outside the test's transaction, as a request runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser

import pytest
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from fieldteam.choices import AreaRoleKind
from fieldteam.models import User
from tests.factories import TEST_PASSWORD, AreaRoleFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a-new-Passw0rd-for-13"


# --- helpers -------------------------------------------------------------------------------------


def obtain_token(user: User, password: str = TEST_PASSWORD) -> str:
    response = APIClient().post("/api/v1/auth/token/", {"username": user.username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["token"]


def token_works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/me/").status_code == 200


def session_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    assert session_works(client)
    return client


def session_works(client: Client) -> bool:
    return client.get("/api/v1/me/").status_code == 200


class _FormScraper(HTMLParser):
    """The values a browser would submit for the form ``form_id`` (inputs, selects, textareas)."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.data = form_id, False, []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.data.append((name, a.get("value") or "on"))
            elif kind not in ("submit", "button", "file"):
                self.data.append((name, a.get("value") or ""))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.data.append((self._select, a.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data.append((name, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self.inside = False


def admin_form(client: Client, url: str, form_id: str) -> dict[str, list[str]]:
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    scraper = _FormScraper(form_id)
    scraper.feed(page.content.decode())
    data: dict[str, list[str]] = {}
    for name, value in scraper.data:
        data.setdefault(name, []).append(value)
    return data


# --- the ways credentials change ----------------------------------------------------------------


@pytest.fixture
def officer(member: User, area_tree) -> User:
    """A commune officer whose subtree holds ``member``'s team."""
    return AreaRoleFactory(area=area_tree.commune, role=AreaRoleKind.COMMUNE_OFFICER).user


def by_admin_set_password(actor: User, target: User) -> None:
    client = session_for(actor)
    url = reverse("admin:auth_user_password_change", args=[target.pk])
    response = client.post(url, {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302, response.content.decode()[:2000]


def by_admin_unusable_password(actor: User, target: User) -> None:
    client = session_for(actor)
    url = reverse("admin:auth_user_password_change", args=[target.pk])
    response = client.post(url, {"usable_password": "false", "unset-password": "1"})
    assert response.status_code == 302, response.content.decode()[:2000]


def by_admin_change_form(actor: User, target: User, *, active: bool) -> None:
    client = session_for(actor)
    url = reverse("admin:fieldteam_user_change", args=[target.pk])
    data = admin_form(client, url, "user_form")
    data.pop("is_active", None)
    if active:
        data["is_active"] = ["on"]
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    target.refresh_from_db()
    assert target.is_active is active


def by_command(target: User) -> None:
    from django.contrib.auth.management.commands import changepassword

    original = changepassword.Command._get_pass
    changepassword.Command._get_pass = lambda self, prompt="Password: ": NEW_PASSWORD
    try:
        call_command("changepassword", target.username, stdout=open("/dev/null", "w"))  # noqa: SIM115
    finally:
        changepassword.Command._get_pass = original


def by_save(target: User) -> None:
    user = User.objects.get(pk=target.pk)
    user.set_password(NEW_PASSWORD)
    user.save()


def by_save_update_fields(target: User) -> None:
    user = User.objects.get(pk=target.pk)
    user.set_password(NEW_PASSWORD)
    user.save(update_fields=["password"])


def by_stale_instance(target: User) -> None:
    # An instance loaded before another write, then saved: compared with the row, not with what it loaded.
    stale = User.objects.get(pk=target.pk)
    User.objects.filter(pk=target.pk).update(first_name="Changed")
    stale.password = make_password(NEW_PASSWORD)
    stale.save()


def by_queryset_update(target: User) -> None:
    User.objects.filter(pk=target.pk).update(password=make_password(NEW_PASSWORD))


def by_bulk_update(target: User) -> None:
    user = User.objects.get(pk=target.pk)
    user.password = make_password(NEW_PASSWORD)
    User.objects.bulk_update([user], ["password"])


PASSWORD_CHANGES: dict[str, Callable[[User, User, User], None]] = {
    "superuser sets it in admin": lambda su, officer, target: by_admin_set_password(su, target),
    "officer sets it in admin": lambda su, officer, target: by_admin_set_password(officer, target),
    "officer removes it in admin": lambda su, officer, target: by_admin_unusable_password(officer, target),
    "changepassword command": lambda su, officer, target: by_command(target),
    "set_password and save": lambda su, officer, target: by_save(target),
    "save(update_fields=password)": lambda su, officer, target: by_save_update_fields(target),
    "save of a stale instance": lambda su, officer, target: by_stale_instance(target),
    "QuerySet.update": lambda su, officer, target: by_queryset_update(target),
    "bulk_update": lambda su, officer, target: by_bulk_update(target),
}


@pytest.mark.parametrize("way", list(PASSWORD_CHANGES))
def test_a_password_change_ends_every_token_and_session(way: str, member: User, officer: User, superuser: User) -> None:
    key = obtain_token(member)
    other_session = session_for(member)
    PASSWORD_CHANGES[way](superuser, officer, member)
    assert not token_works(key), way
    assert not session_works(other_session), way
    assert not Token.objects.filter(user=member).exists()
    if way != "officer removes it in admin":
        fresh = obtain_token(member, NEW_PASSWORD)  # the new password gives a new, working token
        assert fresh != key and token_works(fresh)


def test_self_service_change_keeps_only_the_session_that_made_it(officer: User) -> None:
    key = obtain_token(officer)
    other_session = session_for(officer)
    own = session_for(officer)
    response = own.post(
        reverse("admin:password_change"),
        {"old_password": TEST_PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not token_works(key)
    assert not session_works(other_session)
    assert session_works(own)  # Django keeps the session that changed it (update_session_auth_hash)


def test_a_failed_password_change_ends_nothing(officer: User) -> None:
    key = obtain_token(officer)
    own = session_for(officer)
    response = own.post(
        reverse("admin:password_change"),
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200  # the form again, with its error
    assert token_works(key) and session_works(own)


def test_an_unrelated_save_ends_nothing(member: User) -> None:
    key = obtain_token(member)
    session = session_for(member)
    user = User.objects.get(pk=member.pk)
    user.first_name = "Other"
    user.save()
    User.objects.filter(pk=member.pk).update(last_name="Other")
    assert token_works(key) and session_works(session)


DEACTIVATIONS: dict[str, tuple[Callable[[User, User, User], None], Callable[[User, User, User], None]]] = {
    "admin change form (officer)": (
        lambda su, officer, target: by_admin_change_form(officer, target, active=False),
        lambda su, officer, target: by_admin_change_form(officer, target, active=True),
    ),
    "admin change form (superuser)": (
        lambda su, officer, target: by_admin_change_form(su, target, active=False),
        lambda su, officer, target: by_admin_change_form(su, target, active=True),
    ),
    "save": (
        lambda su, officer, target: _save_active(target, False),
        lambda su, officer, target: _save_active(target, True),
    ),
    "QuerySet.update": (
        lambda su, officer, target: User.objects.filter(pk=target.pk).update(is_active=False),
        lambda su, officer, target: User.objects.filter(is_active=False, pk=target.pk).update(is_active=True),
    ),
}


def _save_active(target: User, active: bool) -> None:
    user = User.objects.get(pk=target.pk)
    user.is_active = active
    user.save()


@pytest.mark.parametrize("way", list(DEACTIVATIONS))
def test_a_reactivated_user_has_no_old_token_or_session(way: str, member: User, officer: User, superuser: User) -> None:
    key = obtain_token(member)
    session = session_for(member)
    deactivate, reactivate = DEACTIVATIONS[way]
    deactivate(superuser, officer, member)
    assert not token_works(key) and not session_works(session)
    reactivate(superuser, officer, member)
    assert not token_works(key), f"{way}: the old token came back to life"
    assert not session_works(session), f"{way}: the old session came back to life"
    assert token_works(obtain_token(member))


def test_a_token_is_not_issued_for_a_password_changed_while_signing_in(member: User, monkeypatch) -> None:
    # The password changes between the check of the old one and the making of the token.
    from fieldteam.api.views import auth

    real = auth.authenticate

    def authenticate_then_change(*args, **kwargs):
        user = real(*args, **kwargs)
        by_queryset_update(member)
        return user

    monkeypatch.setattr(auth, "authenticate", authenticate_then_change)
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": member.username, "password": TEST_PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["password"]
    assert not Token.objects.filter(user=member).exists()


def test_old_sessions_survive_the_upgrade(member: User) -> None:
    # Version 0 (every user before the migration) keeps Django's own session hash.
    assert member.credentials_version == 0
    assert member.get_session_auth_hash() == super(User, member).get_session_auth_hash()


# --- every password route is one of the above ----------------------------------------------------

# Routes that change a password, and the test above that attacks each.
ATTACKED_ROUTES = {
    "admin:password_change": "test_self_service_change_keeps_only_the_session_that_made_it",
    "admin:auth_user_password_change": "test_a_password_change_ends_every_token_and_session",
    "admin:fieldteam_user_change": "test_a_reactivated_user_has_no_old_token_or_session",
    "admin:fieldteam_user_add": "(a new user has no token)",
}


def _routes(patterns: list, namespace: str = "") -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}:{p.namespace}" if namespace and p.namespace else p.namespace or namespace
            found += _routes(p.url_patterns, ns)
        elif isinstance(p, URLPattern) and p.name:
            found.append((f"{namespace}:{p.name}" if namespace else p.name, p.callback))
    return found


def _changes_credentials(name: str, callback: object) -> bool:
    from django.contrib.auth import views as auth_views

    view_class = getattr(callback, "view_class", None)
    password_views = (auth_views.PasswordChangeView, auth_views.PasswordResetConfirmView, auth_views.PasswordResetView)
    if view_class is not None and issubclass(view_class, password_views):
        return True
    return "password" in name or name.endswith(("_user_change", "_user_add"))


def test_every_password_route_is_attacked() -> None:
    routes = {name for name, callback in _routes(get_resolver().url_patterns) if _changes_credentials(name, callback)}
    assert routes - {"admin:password_change_done"} == set(ATTACKED_ROUTES), routes


def test_no_other_user_admin_action_changes_credentials_unseen(superuser: User) -> None:
    # The user admin's actions: any that touches password or is_active goes through save()/update().
    from django.contrib import admin

    model_admin = admin.site._registry[User]
    request = type("R", (), {"user": superuser, "GET": {}, "method": "GET"})()
    assert set(model_admin.get_actions(request)) <= {"delete_selected"}


def test_user_fixture_is_untouched(db) -> None:
    # A user made by a factory starts at version 0: creation is not a change.
    assert UserFactory().credentials_version == 0
