"""The type of a request that a view receives once the user has signed in, for annotations."""

from __future__ import annotations

from django.http import HttpRequest

from fieldteam.models import User


class SignedInRequest(HttpRequest):
    """A request past ``login_required`` (``web_page``, the dashboards' ``signed_in``): ``user`` is a ``User``.

    Django builds every request as an ``HttpRequest``; the decorator is what makes this annotation
    true, so use it only on views behind one.
    """

    user: User
