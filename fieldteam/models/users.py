"""The user model: staff (officers) and team members alike.

Credentials (issue 13 item 6). ``credentials_version`` goes up, in the same transaction, whenever
a user's password hash or ``is_active`` changes — through ``save()`` (every form, admin page,
service and management command ends there) and through ``User.objects…update()`` /
``bulk_update()`` alike — and that same write deletes the user's API tokens. Sessions carry the
version in their auth hash (``_get_session_auth_hash``), so every other session ends too, and a
user who is deactivated and later reactivated comes back with no live token or session.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models, transaction
from django.db.models import F
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from fieldteam import names

#: The columns whose change ends every token and session of the user.
CREDENTIAL_FIELDS = ("password", "is_active")


def revoke_api_tokens(user_ids: Any) -> None:
    """Delete the API tokens of ``user_ids`` (ids or a queryset of ids)."""
    from rest_framework.authtoken.models import Token

    Token.objects.filter(user_id__in=user_ids).delete()


class UserQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        # A bulk change of passwords or of ``is_active`` ends tokens and sessions like ``save()`` does.
        if not any(name in kwargs for name in CREDENTIAL_FIELDS):
            return super().update(**kwargs)
        with transaction.atomic(using=self.db):
            revoke_api_tokens(self.values("pk"))  # evaluated before the update changes what matches
            kwargs.setdefault("credentials_version", F("credentials_version") + 1)
            return super().update(**kwargs)


class UserManager(DjangoUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]  # django-stubs follows from_queryset only when assigned to a name
    pass


class User(AbstractUser):
    """A person who signs in. What they may see follows from their memberships and area roles."""

    #: Columns never filtered, searched or ordered on (``fieldteam.admin.base``, ``tests/security``).
    SENSITIVE_FIELDS = ("password",)

    phone_display = models.CharField(
        _("contact phone"), max_length=20, blank=True, help_text=_("Work contact number of the user.")
    )
    # Raised on every change of the password hash or of ``is_active`` (see the module docstring).
    credentials_version = models.PositiveIntegerField(default=0, editable=False)

    objects: ClassVar[UserManager] = UserManager()

    class Meta(AbstractUser.Meta):
        verbose_name = _("user")  # type: ignore[assignment]  # the stubs type the inherited Meta as str; Django takes lazy strings
        verbose_name_plural = _("users")  # type: ignore[assignment]  # as above
        swappable = "AUTH_USER_MODEL"

    def __str__(self) -> str:
        full = self.get_full_name()
        return f"{full} ({self.username})" if full else self.username

    def get_full_name(self) -> str:
        # Django joins "first last" (given name first); Vietnamese put the family name first.
        return names.display_name(family=self.last_name, given=self.first_name)

    @property
    def display_name(self) -> str:
        """The name every page, report and export shows: family name first, else the user name."""
        return self.get_full_name() or self.get_username()

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if (
            self._state.adding
            or self.pk is None
            or (update_fields is not None and not set(update_fields) & set(CREDENTIAL_FIELDS))
        ):
            super().save(*args, **kwargs)
            return
        with transaction.atomic(using=kwargs.get("using")):
            # Compared with the stored row, not with what this instance loaded: no path can forget.
            stored = (
                type(self)
                ._base_manager.filter(pk=self.pk)
                .select_for_update()
                .values_list(*CREDENTIAL_FIELDS, "credentials_version")
                .first()
            )
            if stored is not None and stored[:2] != (self.password, self.is_active):
                revoke_api_tokens([self.pk])
                self.credentials_version = stored[2] + 1
                if update_fields is not None:
                    kwargs["update_fields"] = {*update_fields, "credentials_version"}
            super().save(*args, **kwargs)

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Version 0 keeps Django's hash, so sessions made before this column existed stay valid.
        if not self.credentials_version:
            return super()._get_session_auth_hash(secret=secret)  # type: ignore[misc]  # Django's private method, absent from the stubs
        return salted_hmac(
            "fieldteam.User.session_auth_hash",
            f"{self.password}:{self.credentials_version}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()
