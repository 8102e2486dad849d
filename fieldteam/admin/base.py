"""What every fieldteam ModelAdmin shares: scoping, permissions by scope, area filters, service forms.

Scoping (``ScopedAdminMixin``)
    ``fieldteam.permissions.scope_for`` is the one place that decides who sees what; the admin
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
    ``fieldteam.services``, called once from the admin's ``save_model`` (see
    ``ServiceFormAdminMixin`` for how a refusal comes back onto the form).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Iterator
from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import COMMUNE_KINDS, PROVINCE_KINDS, VILLAGE_KINDS
from fieldteam.identifiers import normalize_phone
from fieldteam.models import Area, User
from fieldteam.permissions import Scope, scope_for

from .typed import staff_user

#: The hidden field of the search form (``templates/admin/fieldteam/search_form.html``).
SEARCH_POSTED = "_search"


def looks_like_identifier(text: str) -> bool:
    """A phone number or a citizen ID: nine digits or more, maybe written with spaces, dots or +84."""
    compact = normalize_phone((text or "").strip())
    return len(compact) >= 9 and compact.isascii() and compact.isdigit()


# At most this many areas are offered in one list filter; a scope wider than that narrows first.
MAX_FILTER_CHOICES = 500


def request_scope(request: HttpRequest) -> Scope:
    return scope_for(staff_user(request))


def is_admin_staff(request: HttpRequest) -> bool:
    """A superuser, or an active staff user with at least one area role."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    return user.is_superuser or request_scope(request).is_staff_scope


def touches_sensitive_field(model: type[models.Model], lookup: str) -> bool:
    """Whether the lookup path ``lookup`` (``a__b__icontains``) reaches a sensitive column.

    Every model lists its own in ``SENSITIVE_FIELDS`` (``Resident``: ethnicity and the identifier
    columns; ``User``: the password hash). The path is followed across relations in both
    directions, so ``household__residents__ethnicity`` is caught as well as ``ethnicity``.
    """
    current: type[models.Model] | None = model
    for part in lookup.split(LOOKUP_SEP):
        if current is None:
            return False
        if part == "pk":
            part = current._meta.pk.name
        if part in getattr(current, "SENSITIVE_FIELDS", ()):
            return True
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # a transform or a lookup (icontains, year, ...): the path ends here
        current = field.related_model if field.is_relation else None
    return False


class _SensitiveOrderingChangeList(ChangeList):
    def get_ordering_field(self, field_name: Any) -> Any:
        # ``?o=`` names a list_display column by index: a sensitive column is never an order.
        order = super().get_ordering_field(field_name)
        if isinstance(order, str) and touches_sensitive_field(self.model, order.lstrip("-")):
            return None
        return order


def _as_tuple(field: str | tuple[str, ...]) -> tuple[str, ...]:
    return (field,) if isinstance(field, str) else tuple(field)


def area_prefix_q(field: str, path: str) -> Q:
    """Rows whose ``field`` (an Area relation; empty for Area itself) lies in the subtree at ``path``."""
    return Q(**{f"{field}__path__startswith" if field else "path__startswith": path})


if TYPE_CHECKING:
    from django.contrib.admin.filters import _ListFilterChoices
    from django.db.models.expressions import Combinable

    # The mixins below are mixed into ModelAdmins (and inlines): to the type checker they are one,
    # so that ``super()`` and ``self.model`` are known.
    _AdminBase = admin.ModelAdmin[Any]
else:
    _AdminBase = object


class PostedSearchMixin(_AdminBase):
    """The changelist search of a ModelAdmin, posted: a typed identifier never reaches a URL.

    The search box (``templates/admin/fieldteam/search_form.html``) posts what is typed; the
    changelist answers with a redirect to its own URL holding the term (a name), a resident's keyed
    hash, or nothing (an identifier where identifiers are not searched). A number typed into the
    URL by hand is not searched either, and the redirect drops it.
    """

    class Media:
        # Autocompletes post what is typed (``PostedAutocompleteJsonView``).
        js = ("admin/fieldteam/autocomplete-post.js",)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # The search box (``admin/fieldteam/search_form.html``) posts; answer with the list's URL.
        if request.method == "POST" and SEARCH_POSTED in request.POST:
            if not self.has_view_or_change_permission(request):
                raise PermissionDenied
            return self.search_redirect(request)
        if request.method == "GET" and looks_like_identifier(request.GET.get(SEARCH_VAR, "")):
            # Typed into a URL by hand: not searched, not echoed in the page or its links.
            return self.search_redirect(request, request.GET)
        return super().changelist_view(request, extra_context)

    def search_redirect(self, request: HttpRequest, data: QueryDict | None = None) -> HttpResponseRedirect:
        """The changelist URL for the search in ``data`` (the posted form), filters kept."""
        data = request.POST if data is None else data
        params = QueryDict(mutable=True)
        for key, values in data.lists():
            if key not in ("csrfmiddlewaretoken", SEARCH_POSTED, SEARCH_VAR):
                params.setlist(key, values)
        for key, value in self.search_params(request, data.get(SEARCH_VAR, "").strip()).items():
            params[key] = value
        return HttpResponseRedirect(f"{request.path}?{params.urlencode()}" if params else request.path)

    def search_params(self, request: HttpRequest, term: str) -> dict[str, str]:
        """What a search for ``term`` puts in the URL: the term itself, never an identifier.

        Tables that can look a resident up by citizen ID or phone (residents) put its keyed hash
        instead; the others drop it and say where such a search is made.
        """
        if looks_like_identifier(term):
            messages.warning(request, _("Search for a citizen ID or phone number in the list of residents."))
            return {}
        return {SEARCH_VAR: term} if term else {}


def post_every_search(site: admin.AdminSite) -> None:
    """Give every registered ModelAdmin with a search box the posted search (other apps' too).

    Each app also needs ``templates/admin/<app label>/search_form.html`` (the posted form);
    ``tests/security/test_identifier_urls.py`` fails for an app that lacks one.
    """
    for model, model_admin in list(site._registry.items()):
        if model_admin.search_fields and not isinstance(model_admin, PostedSearchMixin):
            posted = type(type(model_admin).__name__, (PostedSearchMixin, type(model_admin)), {})
            site.unregister(model)
            site.register(model, posted)


class PostedAutocompleteJsonView(AutocompleteJsonView):
    """The admin's autocomplete, answered for a POST as for a GET.

    The admin pages send what is typed into an autocomplete by POST
    (``static/admin/fieldteam/autocomplete-post.js``), so a citizen ID or phone number typed into a
    resident field never reaches a URL, a proxy's log or the access log. A GET still works for names,
    but a term that looks like an identifier is not searched when it comes in a URL.
    """

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "GET" and looks_like_identifier(request.GET.get("term", "")):
            return JsonResponse({"results": [], "pagination": {"more": False}})
        return super().get(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request.GET = request.POST  # the stock view reads its parameters from the query string
        return super().get(request, *args, **kwargs)


def post_autocomplete(site: admin.AdminSite) -> None:
    """Answer the site's autocomplete by POST too (``PostedAutocompleteJsonView``); CSRF still applies."""

    def autocomplete_view(request: HttpRequest) -> HttpResponse:
        # as_view() is typed for any view; this one answers with JSON (PostedAutocompleteJsonView).
        return cast(HttpResponse, PostedAutocompleteJsonView.as_view(admin_site=site)(request))

    site.autocomplete_view = autocomplete_view  # type: ignore[method-assign]  # this one site's view, replaced on purpose


class ScopedAdminMixin(PostedSearchMixin):
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
    #: The system's internals (derived counts, receipts, roll-up state, ...): superusers only, in the
    #: index and by URL alike (``fieldteam.admin.index`` groups what officers work with).
    superuser_only: ClassVar[bool] = False

    # --- rows -----------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.scope_queryset(request, super().get_queryset(request))

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

    # --- sensitive columns: never filtered, searched or ordered on, by anyone ----------------------

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # Django allows any lookup on a local field from the query string (``?ethnicity__icontains=``).
        if touches_sensitive_field(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)  # type: ignore[arg-type]  # Django 5.2 still defaults request to None; the stubs follow Django 6

    def get_sortable_by(self, request: HttpRequest) -> Any:
        columns = super().get_sortable_by(request)
        return [c for c in columns if not (isinstance(c, str) and touches_sensitive_field(self.model, c))]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return _SensitiveOrderingChangeList

    def get_ordering(self, request: HttpRequest) -> list[str | Combinable] | tuple[str | Combinable, ...]:
        # A stable order for the pager and the autocomplete; newest first is an index scan.
        return super().get_ordering(request) or self.model._meta.ordering or ("-pk",)

    # --- choices --------------------------------------------------------------------------------

    def get_field_queryset(self, db: str | None, db_field: models.Field, request: HttpRequest) -> QuerySet | None:
        """Choices of a relation: the related admin's scoped rows, narrowed for this field."""
        remote_field = db_field.remote_field
        assert remote_field is not None  # noqa: S101 - the admin asks for the choices of relations only
        related_model = remote_field.model
        try:
            related_admin = self.admin_site.get_model_admin(related_model)
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
        return super().get_search_results(request, queryset, search_term)

    # --- permissions ----------------------------------------------------------------------------

    def admits(self, request: HttpRequest) -> bool:
        """Whether the user may open this table at all: admin staff, or superusers only for internals."""
        return request.user.is_superuser if self.superuser_only else is_admin_staff(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.admits(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.admits(request)

    def may_write(self, request: HttpRequest) -> bool:
        """Whether the user may change rows of this table at all (per-row checks come on top)."""
        if not self.admits(request):
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
        if not isinstance(obj, self.model):
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


if TYPE_CHECKING:
    # The base of the mixins of other modules (imports, duplicates, privacy, service forms): to the
    # type checker, the scoped ModelAdmin they are mixed into.
    AdminMixinBase = ScopedModelAdmin
else:
    AdminMixinBase = object


class PopulationAdmin(ScopedModelAdmin):
    """Tables that grow with the population (millions of rows): no full count, no facet counts."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50


class ScopedTabularInline(ScopedAdminMixin, admin.TabularInline):
    scope_area_field: ClassVar[str | tuple[str, ...] | None] = None  # the parent row is already in scope


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
    parameter_name: str  # set by each level

    def __init__(
        self, request: HttpRequest, params: dict[str, list[str]], model: type[models.Model], model_admin: ScopedAdminMixin
    ) -> None:
        self.model_admin = model_admin
        self.selected: Area | None = None
        super().__init__(request, params, model, model_admin)

    def candidates(self, request: HttpRequest, scope: Scope) -> QuerySet[Area] | None:
        raise NotImplementedError

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, Any]]:
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

    def choices(self, changelist: ChangeList) -> Iterator[_ListFilterChoices]:
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

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
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
        field: str | None = aliases.get(key, key)
        if field not in form.fields or field == NON_FIELD_ERRORS:
            field = None
        form.add_error(field, errors)


class ServiceRefused(Exception):
    """A service refused the admin's save: raised out of the change view's transaction to undo it."""

    def __init__(self, error: ValidationError) -> None:
        super().__init__(error)
        self.error = error


class ServiceModelForm(forms.ModelForm):
    """A ModelForm whose save is a call to services (``perform()``), made by the admin's ``save_model``.

    Validating the form writes nothing. ``perform()`` reads ``cleaned_data`` and ``stored`` (the row as
    it is in the database: Django's model validation sets the posted values on ``instance``, a copy)
    and returns the saved row. ``service_error_aliases`` maps a service's argument name to the form
    field, e.g. ``on`` → ``left_on``. Bind the request with ``for_request``.
    """

    request: HttpRequest
    admin_site: admin.AdminSite
    service_error_aliases: ClassVar[dict[str, str]] = {}

    def __init__(self, *args: Any, instance: models.Model | None = None, **kwargs: Any) -> None:
        self.stored = instance
        # ModelForm writes the posted values onto its instance while validating: give it a copy,
        # whose model validation checks the fields only. Constraints and uniqueness are the
        # services' to check, with their own words on the fields they name.
        copied = copy.copy(instance) if instance is not None else None
        super().__init__(*args, instance=copied, **kwargs)  # type: ignore[misc]  # the admin passes instance by name
        self.instance.full_clean = functools.partial(self.instance.full_clean, validate_constraints=False)

    @classmethod
    def for_request(cls, request: HttpRequest, **attrs: Any) -> type[ServiceModelForm]:
        """A subclass bound to this request (form classes are built per request by the admin)."""
        return type(cls.__name__, (cls,), {"request": request, **attrs})

    @property
    def actor(self) -> Any:
        return self.request.user

    @property
    def adding(self) -> bool:
        return self.stored is None or self.stored.pk is None

    def perform(self) -> models.Model:
        raise NotImplementedError

    def validate_unique(self) -> None:
        # Uniqueness and constraints are the services' to check, with their own words and fields.
        return

    def save(self, commit: bool = True) -> models.Model:
        """The instance to hand to ``save_model``, which calls ``perform()``; nothing is written here."""
        if self.errors:
            raise ValueError("The form did not validate.")
        self.save_m2m = lambda: None  # type: ignore[method-assign]  # nothing to save here: the services did
        return self.instance


#: Where a refused save's errors wait on the request for the change view's second pass.
REFUSED_ATTRIBUTE = "_fieldteam_service_refused"


def _refusing(form: type[forms.ModelForm[Any]], error: ValidationError) -> type[forms.ModelForm[Any]]:
    """``form`` that puts a refused save's errors on the fields they name when it is cleaned."""

    class Refusing(form):  # type: ignore[valid-type,misc]  # a class built at run time
        def clean(self) -> dict[str, Any]:
            data = super().clean()
            apply_service_errors(self, error, getattr(self, "service_error_aliases", {}))
            return data

    Refusing.__name__ = Refusing.__qualname__ = form.__name__
    return Refusing


def _take_state(obj: models.Model, saved: models.Model) -> None:
    """Make ``obj`` (what the admin logs and redirects to) the row the service saved."""
    if saved is obj:
        return
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding, obj._state.db = False, saved._state.db


class ServiceFormAdminMixin(AdminMixinBase):
    """For ModelAdmins whose form is a ``ServiceModelForm``: the services save, once, from ``save_model``.

    Django's change view validates the form and the inlines, then calls ``save_model``,
    ``save_related`` and ``save_formset`` inside its own transaction (``changeform_view``).
    ``save_model`` calls the form's ``perform()`` there, once; the other hooks (a plain ModelForm,
    inlines saved through services by ``save_formset`` overrides) may call services too. A
    ``ValidationError`` from any of them is raised out of that transaction as ``ServiceRefused``,
    so everything the save did is rolled back; ``changeform_view`` catches it and runs the view
    again for the same POST, with a form (``get_form``) whose ``clean()`` puts the errors on the
    fields they name (an inline's on the form as a whole). That form is invalid, so the second pass
    renders the page with the errors and calls no service. Why not call the service while the form
    validates: Django's private ``_post_clean`` would be the only place, and the inlines are
    validated after it, so a write could be kept although the page is shown again with errors.
    Only public admin and form hooks are used; a refusal costs validating the posted form twice.
    """

    save_as = False

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[Any]]:
        form = super().get_form(request, obj, change=change, **kwargs)
        if issubclass(form, ServiceModelForm):
            form = form.for_request(request, admin_site=self.admin_site)
        refused = getattr(request, REFUSED_ATTRIBUTE, None)
        return form if refused is None else _refusing(form, refused)

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as refused:
            setattr(request, REFUSED_ATTRIBUTE, refused.error)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            if not isinstance(form, ServiceModelForm):
                super().save_model(request, obj, form, change)
                return
            saved = form.perform()
        except ValidationError as error:
            raise ServiceRefused(error) from error
        _take_state(obj, saved)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        try:
            super().save_related(request, form, formsets, change)
        except ValidationError as error:
            raise ServiceRefused(error) from error

    # Deleting: through the table's service too, never the ORM behind the services' backs. A table
    # whose admin names no service (``delete_row``) offers no delete at all, to anyone.
    def delete_row(self, *, actor: User, obj: Any) -> None:
        """Delete ``obj`` through its service; overridden by the admins whose rows may be deleted."""
        raise PermissionDenied

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if type(self).delete_row is ServiceFormAdminMixin.delete_row:
            return False
        return bool(super().has_delete_permission(request, obj))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        try:
            self.delete_row(actor=staff_user(request), obj=obj)
        except ValidationError as error:
            raise ServiceRefused(error) from error

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        # Inside the action's request: one refusal and none of the selected rows is deleted.
        try:
            with transaction.atomic(using=queryset.db):
                for obj in queryset:
                    self.delete_row(actor=staff_user(request), obj=obj)
        except ValidationError as error:
            raise ServiceRefused(error) from error

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceRefused as refused:
            self.message_user(request, " ".join(refused.error.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:  # type: ignore[override]  # Django 5.2's signature; the stubs add Django 6's action_location
        try:
            return super().response_action(request, queryset)
        except ServiceRefused as refused:
            self.message_user(request, " ".join(refused.error.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class UnrenderedTextInput(forms.TextInput):
    """A text input that never writes a value back into the page (for identifiers)."""

    def format_value(self, value: Any) -> None:
        return None
