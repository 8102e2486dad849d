"""What every fieldteam ModelAdmin shares: scoping, permissions by scope, area filters, service forms.

Scoping (``ScopedAdminMixin``)
    ``fieldteam.selectors.scope.scope_for`` is the one place that decides who sees what; the admin
    only applies it. A superuser sees everything. Another staff user (``is_staff`` and at least one
    area role, ``Scope.is_staff_scope``) sees the rows whose area lies in their subtree(s):

    - ``get_queryset`` filters through the scope on ``scope_area_field`` (``"village"``,
      ``"area"``, ``"province"``, ``""`` for Area itself, a tuple for "any of these", e.g. an
      adoption's resident's or household's village). Change, history and delete URLs of rows out
      of scope therefore behave like a missing object (redirect to the index), never a 403 that
      would confirm the row exists.
    - Foreign-key and many-to-many choices come from the related admin's scoped queryset, and the
      autocomplete view uses the related admin's ``get_queryset`` too, so a commune officer can
      neither see nor submit an area, household, resident, team or user of another commune.
    - ``has_*_permission`` follow from the scope, not from Django's model permission rows, so
      staff officers need none: a viewer views, an officer (``Scope.can_edit``) edits in scope.
      ``reference_table`` admins (catalogues) are read-only to everyone but superusers;
      ``can_add_rows``/``can_change_rows``/``can_delete_rows`` switch operations off for everyone
      (append-only events, derived counts).

Service forms (``ServiceModelForm``)
    Writes that must keep the adoption state and the roll-up right go through
    ``fieldteam.services``. The form calls the service while it validates (inside the admin's own
    transaction and a savepoint of its own), so a ``ValidationError`` from the service lands on
    the form field it names and nothing is saved; the admin's ``save_model`` then has nothing left
    to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from operator import or_
from typing import Any, ClassVar

from django import forms
from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import COMMUNE_KINDS, PROVINCE_KINDS, VILLAGE_KINDS
from fieldteam.models import Area
from fieldteam.selectors.scope import Scope, scope_for

# At most this many areas are offered in one list filter; a scope wider than that narrows first.
MAX_FILTER_CHOICES = 500


def request_scope(request: HttpRequest) -> Scope:
    return scope_for(request.user)  # type: ignore[arg-type]


def is_admin_staff(request: HttpRequest) -> bool:
    """A superuser, or an active staff user with at least one area role."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    return user.is_superuser or request_scope(request).is_staff_scope


def _as_tuple(field: str | tuple[str, ...]) -> tuple[str, ...]:
    return (field,) if isinstance(field, str) else tuple(field)


def area_prefix_q(field: str, path: str) -> Q:
    """Rows whose ``field`` (an Area relation; empty for Area itself) lies in the subtree at ``path``."""
    return Q(**{f"{field}__path__startswith" if field else "path__startswith": path})


class ScopedAdminMixin:
    """Scope rows, choices and permissions of a ModelAdmin or inline by ``scope_for(request.user)``."""

    #: The Area relation that places a row in the tree; a tuple means "any of these"; ``None``
    #: means the table is not placed in the tree (reference data: every staff user sees it).
    scope_area_field: ClassVar[str | tuple[str, ...] | None] = "village"
    #: The area relation crosses a to-many relation (e.g. ``team__areas``): filter through a
    #: subquery on the primary key so that rows are not repeated.
    scope_through_many: ClassVar[bool] = False
    #: Reference data: rows are shared by everyone; only superusers change them.
    reference_table: ClassVar[bool] = False
    can_add_rows: ClassVar[bool] = True
    can_change_rows: ClassVar[bool] = True
    can_delete_rows: ClassVar[bool] = True

    # --- rows -----------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.scope_queryset(request, super().get_queryset(request))  # type: ignore[misc]

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """``queryset`` limited to what the requesting user may see."""
        if request.user.is_superuser:
            return queryset
        if not is_admin_staff(request):
            return queryset.none()
        scope = request_scope(request)
        if scope.everything or self.scope_area_field is None:
            return queryset
        return self.filter_in_scope(scope, queryset)

    def filter_in_scope(self, scope: Scope, queryset: QuerySet) -> QuerySet:
        fields = _as_tuple(self.scope_area_field or "")
        whole_provinces = bool(scope.paths) and len(scope.province_ids) == len(scope.paths)
        if len(fields) == 1 and not self.scope_through_many and fields[0]:
            return scope.filter(queryset, area_field=fields[0])
        if whole_provinces and _has_province_column(queryset.model):
            return queryset.filter(province_id__in=scope.province_ids)
        condition = reduce(or_, (scope.area_q(field) for field in fields))
        return self._filter_rows(queryset, condition)

    def filter_by_area(self, queryset: QuerySet, area: Area) -> QuerySet:
        """Rows placed in ``area``'s subtree (used by the area list filters)."""
        fields = _as_tuple(self.scope_area_field or "")
        if area.kind in PROVINCE_KINDS and all(fields) and _has_province_column(queryset.model):
            return queryset.filter(province_id=area.pk)
        return self._filter_rows(queryset, reduce(or_, (area_prefix_q(field, area.path) for field in fields)))

    def _filter_rows(self, queryset: QuerySet, condition: Q) -> QuerySet:
        if self.scope_through_many:
            return queryset.filter(pk__in=queryset.model._default_manager.filter(condition).values("pk"))
        return queryset.filter(condition)

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...] | list[str]:
        # A stable order for the pager and the autocomplete; newest first is an index scan.
        return super().get_ordering(request) or self.model._meta.ordering or ("-pk",)  # type: ignore[misc,attr-defined]

    # --- choices --------------------------------------------------------------------------------

    def get_field_queryset(self, db: str | None, db_field: models.Field, request: HttpRequest) -> QuerySet | None:
        """Choices of a relation: the related admin's scoped rows, narrowed for this field."""
        related_model = db_field.remote_field.model
        try:
            related_admin = self.admin_site.get_model_admin(related_model)  # type: ignore[attr-defined]
        except NotRegistered:
            return None
        queryset = related_model._default_manager.using(db).all()
        if isinstance(related_admin, ScopedAdminMixin):
            queryset = related_admin.scope_queryset(request, queryset)
            queryset = related_admin.limit_related_choices(request, queryset, db_field.model, db_field.name)
        ordering = related_admin.get_ordering(request)
        if ordering:
            queryset = queryset.order_by(*ordering)
        return queryset

    def limit_related_choices(
        self, request: HttpRequest, queryset: QuerySet, source_model: type[models.Model], field_name: str
    ) -> QuerySet:
        """Narrow this model's rows offered for ``source_model.field_name`` (a hook; default: all)."""
        return queryset

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        source = _autocomplete_source(request)
        if source is not None:
            queryset = self.limit_related_choices(request, queryset, *source)
        return super().get_search_results(request, queryset, search_term)  # type: ignore[misc]

    # --- permissions ----------------------------------------------------------------------------

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_admin_staff(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_admin_staff(request)

    def may_write(self, request: HttpRequest) -> bool:
        """Whether the user may change rows of this table at all (per-row checks come on top)."""
        if not is_admin_staff(request):
            return False
        if request.user.is_superuser:
            return True
        return not self.reference_table and request_scope(request).can_edit

    def may_write_row(self, request: HttpRequest, obj: Any) -> bool:
        """Per-row check on top of ``may_write``, for superusers too; rows reached here are in scope."""
        return True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.can_add_rows and self.may_write(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not (self.can_change_rows and self.may_write(request)):
            return False
        return obj is None or self._row_check(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not (self.can_delete_rows and self.may_write(request)):
            return False
        return obj is None or self._row_check(request, obj)

    def _row_check(self, request: HttpRequest, obj: Any) -> bool:
        # Inlines are asked about the parent object; only the table's own rows get the row check.
        if not isinstance(obj, self.model):  # type: ignore[attr-defined]
            return True
        return self.may_write_row(request, obj)


def _has_province_column(model: type[models.Model]) -> bool:
    try:
        field = model._meta.get_field("province")
    except Exception:  # noqa: BLE001 - FieldDoesNotExist and friends
        return False
    return getattr(field, "related_model", None) is Area and model is not Area


def _autocomplete_source(request: HttpRequest) -> tuple[type[models.Model], str] | None:
    """For an admin autocomplete request, the model and field the choices are for."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.url_name != "autocomplete":
        return None
    from django.apps import apps

    try:
        model = apps.get_model(request.GET["app_label"], request.GET["model_name"])
    except (KeyError, LookupError):
        return None
    return model, request.GET.get("field_name", "")


class ScopedModelAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """A scoped ModelAdmin."""


class PopulationAdmin(ScopedModelAdmin):
    """Tables that grow with the population (millions of rows): no full count, no facet counts."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50


class ScopedTabularInline(ScopedAdminMixin, admin.TabularInline):
    scope_area_field = None  # the parent row is already in scope


class ReadOnlyTabularInline(ScopedTabularInline):
    """Rows shown under their parent, never edited there."""

    extra = 0
    max_num = 0
    can_delete = False
    can_add_rows = False
    can_change_rows = False
    can_delete_rows = False
    show_change_link = True


# --- area list filters ----------------------------------------------------------------------------


def _visible_provinces(scope: Scope) -> QuerySet[Area]:
    provinces = Area.objects.filter(kind__in=PROVINCE_KINDS)
    if scope.everything:
        return provinces
    return provinces.filter(path__in={p[: Area.steplen] for p in scope.paths})


def _selected_area(request: HttpRequest, parameter: str, scope: Scope, kinds: Iterable[str]) -> Area | None:
    raw = request.GET.get(parameter, "")
    if not raw.isdigit():
        return None
    area = Area.objects.filter(pk=int(raw), kind__in=list(kinds)).first()
    if area is None:
        return None
    # An area above the scope (the officer's province) is a fine narrowing too: rows stay scoped.
    if scope.contains(area) or any(p.startswith(area.path) for p in scope.paths):
        return area
    return None


class _AreaLevelFilter(admin.SimpleListFilter):
    """Filter rows by an area of one level, offering only the areas of the level above once chosen.

    The province list has 34 entries; communes are offered once a province is chosen (or the user's
    scope is one province), villages once a commune is chosen (or the scope is one commune), so no
    filter ever lists thousands of areas.
    """

    kinds: ClassVar[frozenset[str]]
    narrower: ClassVar[tuple[str, ...]] = ()  # parameters of lower levels, reset when this changes

    def __init__(self, request, params, model, model_admin):  # type: ignore[no-untyped-def]
        self.model_admin = model_admin
        self.selected: Area | None = None
        super().__init__(request, params, model, model_admin)

    def candidates(self, request: HttpRequest, scope: Scope) -> QuerySet[Area] | None:
        raise NotImplementedError

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        scope = request_scope(request)
        self.selected = _selected_area(request, self.parameter_name, scope, self.kinds)
        raw = request.GET.get(self.parameter_name)
        if raw is not None and self.selected is None:
            # A filter without choices is not applied at all: keep it, so an unknown area shows nothing.
            return [(raw, _("unknown area"))]
        candidates = self.candidates(request, scope)
        if candidates is None:
            return []
        rows = list(candidates.order_by("name").values_list("pk", "name")[: MAX_FILTER_CHOICES + 1])
        if len(rows) <= 1 and self.selected is None:
            return []
        return [(str(pk), name) for pk, name in rows[:MAX_FILTER_CHOICES]]

    def choices(self, changelist):  # type: ignore[no-untyped-def]
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name, *self.narrower]),
            "display": _("All"),
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}, list(self.narrower)),
                "display": title,
            }

    def queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        if self.selected is None:
            return queryset if self.value() is None else queryset.none()
        return self.model_admin.filter_by_area(queryset, self.selected)


class ProvinceFilter(_AreaLevelFilter):
    title = _("province")
    parameter_name = "in_province"
    kinds = PROVINCE_KINDS
    narrower = ("in_commune", "in_village")

    def candidates(self, request: HttpRequest, scope: Scope) -> QuerySet[Area] | None:
        return _visible_provinces(scope)


class CommuneFilter(_AreaLevelFilter):
    title = _("commune")
    parameter_name = "in_commune"
    kinds = COMMUNE_KINDS
    narrower = ("in_village",)

    def candidates(self, request: HttpRequest, scope: Scope) -> QuerySet[Area] | None:
        province = _selected_area(request, ProvinceFilter.parameter_name, scope, PROVINCE_KINDS)
        if province is None:
            provinces = list(_visible_provinces(scope)[:2])
            if len(provinces) != 1:
                return None
            province = provinces[0]
        return scope.filter_areas(Area.objects.filter(path__startswith=province.path, kind__in=COMMUNE_KINDS))


class VillageFilter(_AreaLevelFilter):
    title = _("village")
    parameter_name = "in_village"
    kinds = VILLAGE_KINDS

    def candidates(self, request: HttpRequest, scope: Scope) -> QuerySet[Area] | None:
        commune = _selected_area(request, CommuneFilter.parameter_name, scope, COMMUNE_KINDS)
        if commune is None:
            if scope.everything or len(scope.paths) != 1:
                return None
            commune = Area.objects.filter(path=scope.paths[0], kind__in=COMMUNE_KINDS).first()
            if commune is None:
                return None
        return scope.filter_areas(Area.objects.filter(path__startswith=commune.path, kind__in=VILLAGE_KINDS))


AREA_FILTERS = (ProvinceFilter, CommuneFilter, VillageFilter)


# --- forms that write through services ----------------------------------------------------------


def apply_service_errors(form: forms.BaseForm, error: ValidationError, aliases: dict[str, str] | None = None) -> None:
    """Put a service's ``ValidationError`` on the form: on the field it names, else on the form."""
    aliases = aliases or {}
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for key, errors in error.error_dict.items():
        field = aliases.get(key, key)
        if field not in form.fields or field == NON_FIELD_ERRORS:
            field = None
        form.add_error(field, errors)


class ServiceModelForm(forms.ModelForm):
    """A ModelForm that saves by calling services when it validates.

    Subclasses implement ``perform()``, which returns the saved instance. It runs only when every
    field is valid, in a savepoint: on a ``ValidationError`` everything it did is rolled back and
    the errors go on the fields they name (``service_error_aliases`` maps a service's argument
    name to the form field, e.g. ``on`` → ``left_on``). Bind the request with ``for_request``.
    """

    request: HttpRequest
    admin_site: admin.AdminSite
    service_error_aliases: ClassVar[dict[str, str]] = {}

    @classmethod
    def for_request(cls, request: HttpRequest, **attrs: Any) -> type[ServiceModelForm]:
        """A subclass bound to this request (form classes are built per request by the admin)."""
        return type(cls.__name__, (cls,), {"request": request, **attrs})

    @property
    def actor(self) -> Any:
        return self.request.user

    def perform(self) -> models.Model:
        raise NotImplementedError

    def _post_clean(self) -> None:
        # Replaces ModelForm's construct-and-full_clean: the services validate and save.
        if self._errors:
            return
        try:
            with transaction.atomic():
                self.instance = self.perform()
        except ValidationError as exc:
            apply_service_errors(self, exc, self.service_error_aliases)

    def save(self, commit: bool = True) -> models.Model:
        if self.errors:
            raise ValueError("The form did not validate.")
        self.save_m2m = lambda: None  # type: ignore[method-assign]
        return self.instance


class ServiceFormAdminMixin:
    """For ModelAdmins whose form is a ``ServiceModelForm``: bind the request, skip the model save."""

    save_as = False

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        form = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        if issubclass(form, ServiceModelForm):
            return form.for_request(request, admin_site=self.admin_site)  # type: ignore[attr-defined]
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not isinstance(form, ServiceModelForm):
            super().save_model(request, obj, form, change)  # type: ignore[misc]


class UnrenderedTextInput(forms.TextInput):
    """A text input that never writes a value back into the page (for identifiers)."""

    def format_value(self, value: Any) -> None:
        return None
