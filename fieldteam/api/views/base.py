"""What the API's views share: the acting user, and the fake-view guard for schema generation."""

from __future__ import annotations

import datetime
from typing import Any, cast

import django_filters
from django import forms
from django.db.models import Model, QuerySet
from django.utils.translation import gettext_lazy as _
from rest_framework import viewsets
from rest_framework.request import Request

from fieldteam.errors import field_error
from fieldteam.models import User
from fieldteam.periods import Period

FIRST_YEAR, LAST_YEAR = 2000, 2100  # the years targets may be set for


def parse_period(text: str) -> Period:
    """``Period.parse``, with a year out of the calendar's range reported like any malformed period."""
    try:
        period = Period.parse(text)
    except ValueError:
        period = None
    if period is None or not FIRST_YEAR <= period.start.year <= LAST_YEAR:
        raise field_error(
            "period",
            _("A period is written 2026-03 (month), 2026-Q1 (quarter) or 2026 (year), between %(first)s and %(last)s."),
            code="period_format",
            params={"first": FIRST_YEAR, "last": LAST_YEAR},
        )
    return period


def acting_user(request: Request) -> User:
    return cast(User, request.user)  # DRF's IsAuthenticated ran first


class ScopedViewSet(viewsets.GenericViewSet):
    """A viewset whose rows come from a selector scoped to the acting user (``scoped_queryset``)."""

    #: The model, for schema generation (no user then).
    model: type[Model]

    def scoped_queryset(self, user: User) -> QuerySet[Any]:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.model._default_manager.none()
        return self.scoped_queryset(acting_user(self.request))


class _InstantField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 instant in the years targets may be set for, turned into UTC.

    The UTC conversion matters: PostgreSQL refuses offsets beyond ±15:59 that Python accepts, and a
    year like 0136 is nobody's working day; both answer 400 naming the parameter, not 500.
    """

    def clean(self, value: Any) -> Any:
        instant = super().clean(value)
        if instant is None:
            return None
        if not FIRST_YEAR <= instant.year <= LAST_YEAR:
            raise forms.ValidationError(
                _("Give a time between the years %(first)s and %(last)s."),
                code="out_of_range",
                params={"first": FIRST_YEAR, "last": LAST_YEAR},
            )
        return instant.astimezone(datetime.UTC)


class InstantFilter(django_filters.IsoDateTimeFilter):
    """A filter on a moment in time (``2026-03-01T07:00:00+07:00``); out-of-range years are a 400."""

    field_class = _InstantField


class IntFilter(django_filters.NumberFilter):
    """A whole-number filter (a decimal or a number out of the column's range is a 400 naming the parameter)."""

    field_class = forms.IntegerField  # type: ignore[assignment]  # the stubs pin NumberFilter to DecimalField; any number field works


class IdFilter(IntFilter):
    """A filter on a row id: a positive whole number."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)
