"""The admin lists Django permissions in Vietnamese, though Django stores their names in English."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import translation

from fieldteam.admin.users import permission_label

pytestmark = pytest.mark.django_db


def test_a_default_permission_reads_in_the_language_with_the_models_own_name() -> None:
    permission = Permission.objects.get(codename="view_resident")
    with translation.override("vi"):
        assert permission_label(permission) == "Người dân | Có thể xem người dân"
    with translation.override("en"):
        assert permission_label(permission) == "Resident | Can view resident"


def test_a_declared_permission_reads_as_the_model_declares_it() -> None:
    permission = Permission.objects.get(codename="view_nation")
    with translation.override("vi"):
        assert permission_label(permission).endswith("| Được xem cấp quốc gia")


@pytest.mark.parametrize("page", ["admin:auth_group_add", "admin:fieldteam_user_change"])
def test_the_permission_lists_of_users_and_groups_are_in_vietnamese(admin_client, admin_user, page) -> None:
    url = reverse(page, args=[admin_user.pk] if page.endswith("change") else [])
    text = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="vi").content.decode()
    assert "Có thể xem người dân" in text
    assert "Can view" not in text and "Can see the national level" not in text
