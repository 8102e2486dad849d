"""Users: Django's UserAdmin, scoped, with area roles and team memberships inline.

A non-superuser officer sees the users who hold a role in, or belong to a team serving, an area
of their subtree; superusers are never among them. They change only users who have no role or
open membership outside that subtree (a member shared with another commune is changed there or by
a superuser), never grant superuser status or Django permissions, and place every user they
create in one of their teams or areas at once, so that the new user stays in their sight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group, Permission
from django.db.models import ManyToManyField, Q, QuerySet
from django.http import HttpRequest
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import AreaRoleKind, MembershipRole
from fieldteam.models import Area, AreaRole, Membership, Team, User
from fieldteam.periods import today
from fieldteam.services import teams

from .base import ScopedAdminMixin, is_admin_staff, request_scope
from .teams import AreaRoleInline, MembershipInline, TeamServicesAdminMixin, grantable_roles
from .typed import choice_field, model_choice_field, staff_user

if TYPE_CHECKING:
    from django.contrib.admin.options import InlineModelAdmin, _FieldsetSpec
    from django.utils.datastructures import _ListOrTuple


class AreaRoleKindFilter(admin.SimpleListFilter):
    title = _("area role")
    parameter_name = "area_role"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, Any]]:
        return AreaRoleKind.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() is None:
            return queryset
        return queryset.filter(pk__in=AreaRole.objects.filter(role=self.value()).values("user_id"))


class TeamRoleFilter(admin.SimpleListFilter):
    title = _("role in a team")
    parameter_name = "team_role"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, Any]]:
        return MembershipRole.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() is None:
            return queryset
        current = Membership.objects.filter(role=self.value(), ended_on__isnull=True)
        return queryset.filter(pk__in=current.values("user_id"))


class UserMembershipInline(MembershipInline):
    fields = ("team", "role", "affiliation", "started_on", "ended_on")
    autocomplete_fields = ("team",)
    fk_name = "user"


class PasswordChangeForm(AdminPasswordChangeForm):
    """Django's form, with the help of its on/off switch translated.

    Django builds that help by adding a string to a lazy translation when its module is imported,
    which fixes it in English for every request; here it is made again, lazily.
    """

    translated_usable_password_help = format_lazy(
        "{}{}",
        _(
            "Whether the user will be able to authenticate using a password or not. If disabled, they may still be "
            "able to authenticate using other backends, such as Single Sign-On or LDAP."
        ),
        format_lazy(
            '<ul id="id_unusable_warning" class="messagelist"><li class="warning">{}</li></ul>',
            _("If disabled, the current password for this user will be lost."),
        ),
    )

    def __init__(self, user: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        if "usable_password" in self.fields:
            self.fields["usable_password"].help_text = self.translated_usable_password_help


class UserCreationForm(AdminUserCreationForm):
    """Django's creation form plus the team or area the new user is placed in."""

    request: HttpRequest
    admin_site: admin.AdminSite

    team = forms.ModelChoiceField(label=_("team"), queryset=Team.objects.none(), required=False)
    team_role = forms.ChoiceField(
        label=_("role in the team"), choices=MembershipRole.choices, initial=MembershipRole.MEMBER, required=False
    )
    area = forms.ModelChoiceField(label=_("area"), queryset=Area.objects.none(), required=False)
    area_role = forms.ChoiceField(label=_("area role"), choices=(), required=False)

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Both are registered with scoped admins (TeamAdmin, AreaAdmin).
        team_admin = cast(ScopedAdminMixin, self.admin_site.get_model_admin(Team))
        area_admin = cast(ScopedAdminMixin, self.admin_site.get_model_admin(Area))
        team = model_choice_field(self, "team")
        team.queryset = team_admin.scope_queryset(self.request, Team.objects.filter(is_active=True))
        team.widget = AutocompleteSelect(Membership._meta.get_field("team"), self.admin_site, choices=team.choices)
        area = model_choice_field(self, "area")
        area.queryset = area_admin.scope_queryset(self.request, Area.objects.all())
        area.widget = AutocompleteSelect(AreaRole._meta.get_field("area"), self.admin_site, choices=area.choices)
        choice_field(self, "area_role").choices = [("", "---------"), *grantable_roles(self.request)]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("area") and not data.get("area_role"):
            self.add_error("area_role", _("Choose the role in this area."))
        if data.get("area_role") and not data.get("area"):
            self.add_error("area", _("Choose the area of this role."))
        if not self.request.user.is_superuser and not data.get("team") and not data.get("area"):
            raise forms.ValidationError(
                _("Put the new user in one of your teams or give them a role in one of your areas."),
                code="unplaced_user",
            )
        return data


class UserChangeFormWithPhone(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User


_DEFAULT_ACTIONS = {
    "add": _("Can add %(model)s"),
    "change": _("Can change %(model)s"),
    "delete": _("Can delete %(model)s"),
    "view": _("Can view %(model)s"),
}


def permission_label(permission: Permission) -> str:
    """A permission as the admin lists it, in the reader's language.

    Django stores the names of the default permissions in English ("Can add resident"), built from
    the model's untranslated name; they are rebuilt here from the action and the model's (translated)
    name. A permission of the model's own has its name as the model declares it, translated.
    """
    model = permission.content_type.model_class()
    action, _sep, model_name = permission.codename.partition("_")
    if model is None:
        return permission.name
    verbose_name = str(model._meta.verbose_name)
    if action in _DEFAULT_ACTIONS and model_name == model._meta.model_name:
        label = str(_DEFAULT_ACTIONS[action] % {"model": verbose_name})
    else:  # as the model declares it (``Meta.permissions``, wrapped for translation there)
        label = str(dict(model._meta.permissions).get(permission.codename, permission.name))
    return f"{capfirst(verbose_name)} | {label}"


class TranslatedPermissionsMixin:
    """Lists the permissions of a many-to-many field by ``permission_label``."""

    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest | None = None, **kwargs: Any
    ) -> Any:
        field = super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]  # ModelAdmin's, by the MRO
        if field is not None and db_field.related_model is Permission:
            field.queryset = field.queryset.select_related("content_type")
            field.label_from_instance = permission_label
        return field


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(TranslatedPermissionsMixin, DjangoGroupAdmin):
    """Django's groups, their permissions listed in the reader's language."""


@admin.register(User)
class UserAdmin(TranslatedPermissionsMixin, TeamServicesAdminMixin, ScopedAdminMixin, DjangoUserAdmin):
    form = UserChangeFormWithPhone
    add_form = UserCreationForm
    change_password_form = PasswordChangeForm
    scope_area_field = None  # see scope_queryset
    # Family name first, as Vietnamese write a name (``User.display_name``).
    list_display = ("username", "last_name", "first_name", "email", "is_staff", "is_active")
    list_filter = ("is_staff", "is_active", AreaRoleKindFilter, TeamRoleFilter)
    search_fields = ("username", "first_name", "last_name", "email")
    inlines = (AreaRoleInline, UserMembershipInline)
    show_facets = admin.ShowFacets.NEVER
    add_fieldsets: _FieldsetSpec = (
        (None, {"classes": ("wide",), "fields": ("username", "usable_password", "password1", "password2")}),
        (_("Place"), {"fields": ("team", "team_role", "area", "area_role")}),
    )

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if request.user.is_superuser:
            return queryset
        if not is_admin_staff(request):
            return queryset.none()
        scope = request_scope(request)
        if scope.everything:
            return queryset
        roles = AreaRole.objects.filter(scope.area_q("area")).values("user_id")
        teams = Team.objects.filter(scope.area_q("areas")).values("pk")
        members = Membership.objects.filter(team__in=teams).values("user_id")
        return queryset.filter(Q(pk__in=roles) | Q(pk__in=members)).exclude(is_superuser=True)

    def may_write_row(self, request: HttpRequest, obj: User) -> bool:
        if request.user.is_superuser:
            return True
        if obj.is_superuser:
            return False
        scope = request_scope(request)
        if any(not scope.contains(role.area) for role in AreaRole.objects.filter(user=obj).select_related("area")):
            return False
        teams_in_scope = Team.objects.filter(scope.area_q("areas")).values("pk")
        return not (
            Membership.objects.filter(user=obj, ended_on__isnull=True).exclude(team__in=teams_in_scope).exists()
        )

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> _FieldsetSpec:
        if obj is None:
            return self.add_fieldsets
        permissions: tuple[str, ...] = ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")
        if not request.user.is_superuser:
            permissions = ("is_active", "is_staff")
        return (
            (None, {"fields": ("username", "password")}),
            (_("Personal info"), {"fields": ("last_name", "first_name", "email", "phone_display")}),
            (_("Permissions"), {"fields": permissions}),
            (_("Important dates"), {"fields": ("last_login", "date_joined")}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple[str, ...]:
        return ("last_login", "date_joined") if obj is not None else ()

    def get_inlines(self, request: HttpRequest, obj: User | None) -> _ListOrTuple[type[InlineModelAdmin[Any, Any]]]:
        return self.inlines if obj is not None else ()

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> type[forms.ModelForm[Any]]:
        form = super().get_form(request, obj, **kwargs)
        if obj is None:
            return type(form.__name__, (form,), {"request": request, "admin_site": self.admin_site})
        return form

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if not request.user.is_superuser and not change:
            obj.is_superuser = False
        if not change and form.cleaned_data.get("area"):
            obj.is_staff = True  # an area role is for the admin and the dashboards
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if change:
            return
        data = form.cleaned_data
        # Through the services, which check who may; a refusal undoes the new user too.
        if data.get("team"):
            teams.add_membership(
                actor=staff_user(request),
                team=data["team"],
                user=form.instance,
                role=data.get("team_role") or MembershipRole.MEMBER,
                started_on=today(),
            )
        if data.get("area"):
            teams.grant_area_role(
                actor=staff_user(request),
                user=form.instance,
                area=data["area"],
                role=data["area_role"],
            )
