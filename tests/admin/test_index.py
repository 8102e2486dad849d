"""The admin index an officer meets: the tables they work with, in four sections; internals refused."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from fieldteam.admin.index import SECTIONS
from fieldteam.choices import AreaRoleKind
from fieldteam.models import User
from tests.conftest import AreaTree
from tests.factories import AreaRoleFactory

OFFICER_SECTIONS = {
    "People": ["Area", "Household", "Resident", "ConsentRecord", "Adoption"],
    "Digital-technology teams": [
        "Team",
        "Membership",
        "MemberTraining",
        "User",
        "AreaRole",
        "AssistanceLog",
        "TrainingSession",
    ],
    "Indicators and targets": [
        "Indicator",
        "Target",
        "IndicatorValue",
        "MonthApproval",
        "OfficialPopulation",
        "Plan",
        "PlanTarget",
        "IndicatorPopulationBound",
        "Capability",
        "CapabilityDerivation",
        "FollowUpRule",
    ],
    "Imports and reports": ["BackgroundJob", "ReportSubscription", "AuditEntry"],
}
INTERNALS = [
    "assistanceitem",
    "communecount",
    "nationaltarget",
    "reportdelivery",
    "retirementage",
    "rollupstate",
    "syncreceipt",
    "trainingattendance",
    "villagecount",
]


def sections(client: Client) -> dict[str, list[str]]:
    response = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return {app["name"]: [m["object_name"] for m in app["models"]] for app in response.context["app_list"]}


@pytest.mark.parametrize("role", [AreaRoleKind.COMMUNE_OFFICER, AreaRoleKind.PROVINCE_OFFICER, AreaRoleKind.VIEWER])
def test_an_officer_index_lists_exactly_the_tables_they_work_with(client: Client, area_tree: AreaTree, role: str):
    officer = AreaRoleFactory(area=area_tree.commune, role=role).user
    client.force_login(officer)

    assert sections(client) == OFFICER_SECTIONS


@pytest.mark.parametrize("model_name", INTERNALS)
def test_internals_answer_403_to_an_officer(client: Client, commune_officer: User, model_name: str):
    client.force_login(commune_officer)

    assert client.get(reverse(f"admin:fieldteam_{model_name}_changelist")).status_code == 403
    assert client.get(reverse("admin:app_list", args=["fieldteam"])).status_code == 200


def test_a_superuser_sees_the_same_sections_and_the_internals(client: Client, superuser: User):
    client.force_login(superuser)

    listed = sections(client)

    for name, tables in OFFICER_SECTIONS.items():
        assert listed[name] == tables
    assert sorted(m.lower() for m in listed["System internals"]) == INTERNALS
    assert {"Authentication and Authorization", "Axes"} <= set(listed)
    for model_name in INTERNALS:
        assert client.get(reverse(f"admin:fieldteam_{model_name}_changelist")).status_code == 200


def test_the_officer_sections_are_in_vietnamese(client: Client, commune_officer: User):
    client.force_login(commune_officer)

    page = client.get(reverse("admin:index")).content.decode()

    for title in ("Người dân", "Tổ công nghệ số", "Chỉ tiêu và mục tiêu", "Nhập và báo cáo"):
        assert title in page
    for internal in ("Biên nhận đồng bộ", "Trạng thái tổng hợp số liệu", "Tuổi nghỉ hưu", "Số liệu theo thôn"):
        assert internal not in page


def test_every_table_is_in_a_section_or_kept_for_superusers() -> None:
    """A new table is placed where officers look for it, or marked as an internal: never left over."""
    placed = {name for _title, names in SECTIONS for name in names}
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "fieldteam":
            continue
        name = model._meta.model_name
        assert (name in placed) != bool(getattr(model_admin, "superuser_only", False)), name
