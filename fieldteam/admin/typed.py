"""What the admin knows and the type checker cannot: who is signed in, and a form's kinds of field.

``request.user`` is typed as possibly anonymous, but the admin site lets only signed-in staff past
its login (``AdminSite.has_permission``). ``form.fields`` is typed for any ``forms.Field``; the
admin's forms narrow the choices of their choice fields per request, and these name the kind of
field the form declares (or its model field makes).
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.http import HttpRequest

from fieldteam.models import User


def staff_user(request: HttpRequest) -> User:
    """The signed-in user of an admin request."""
    return cast(User, request.user)


def choice_field(form: forms.BaseForm, name: str) -> forms.ChoiceField:
    """``form``'s field ``name``, a ``ChoiceField`` (a model field with choices makes one)."""
    return cast(forms.ChoiceField, form.fields[name])


def model_choice_field(form: forms.BaseForm, name: str) -> forms.ModelChoiceField[Any]:
    """``form``'s field ``name``, a ``ModelChoiceField`` (a foreign key makes one)."""
    return cast("forms.ModelChoiceField[Any]", form.fields[name])


def offered(field: forms.ModelChoiceField[Any]) -> QuerySet[Any]:
    """The rows ``field`` offers: given by its declaration or its foreign key, so never None in a form."""
    queryset = field.queryset
    assert queryset is not None  # noqa: S101 - a ModelChoiceField of a built form always has its rows
    return queryset
