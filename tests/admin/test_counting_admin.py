"""The admin of a province's population bounds and of the capability derivations: through the services."""

from __future__ import annotations

import pytest
from django.test import Client

from fieldteam.choices import DerivationKind
from fieldteam.models import CapabilityDerivation, IndicatorPopulationBound, User
from tests.admin.test_admin import logged_in, url
from tests.conftest import AreaTree
from tests.factories import CapabilityDerivationFactory, CapabilityFactory, IndicatorFactory, PopulationBoundFactory

pytestmark = pytest.mark.django_db


def bound_form(province, indicator, min_age="16", max_age="") -> dict[str, object]:
    return {"province": province.pk, "indicator": indicator.pk, "min_age": min_age, "max_age": max_age, "source": ""}


def test_a_province_officer_sets_their_provinces_bound_and_the_counts_are_queued(
    client: Client, area_tree: AreaTree, province_officer: User, django_capture_on_commit_callbacks
):
    indicator = IndicatorFactory()
    logged_in(client, province_officer)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url(IndicatorPopulationBound, "add"), bound_form(area_tree.province, indicator))

    assert response.status_code == 302
    bound = IndicatorPopulationBound.objects.get()
    assert (bound.province, bound.indicator, bound.min_age) == (area_tree.province, indicator, 16)
    assert len(callbacks) == 1


def test_a_refused_bound_is_shown_on_its_field_and_not_saved(
    client: Client, area_tree: AreaTree, province_officer: User
):
    logged_in(client, province_officer)

    response = client.post(
        url(IndicatorPopulationBound, "add"), bound_form(area_tree.province, IndicatorFactory(), "30", "20")
    )

    assert response.status_code == 200
    assert "max_age" in response.context["adminform"].form.errors
    assert not IndicatorPopulationBound.objects.exists()


def test_another_provinces_bound_is_not_the_officers_to_change_or_delete(
    client: Client, area_tree: AreaTree, province_officer: User
):
    theirs = PopulationBoundFactory(province=area_tree.other_province, min_age=16)
    logged_in(client, province_officer)

    assert client.get(url(IndicatorPopulationBound, "changelist")).context["cl"].result_count == 0
    client.post(url(IndicatorPopulationBound, "change", theirs.pk), bound_form(area_tree.province, theirs.indicator, "1"))
    client.post(url(IndicatorPopulationBound, "delete", theirs.pk), {"post": "yes"})

    theirs.refresh_from_db()
    assert (theirs.province_id, theirs.min_age) == (area_tree.other_province.pk, 16)


def test_a_commune_officer_reads_the_provinces_bounds_but_sets_none(
    client: Client, area_tree: AreaTree, commune_officer: User
):
    PopulationBoundFactory(province=area_tree.province)
    PopulationBoundFactory(province=area_tree.other_province)
    logged_in(client, commune_officer)

    assert client.get(url(IndicatorPopulationBound, "changelist")).context["cl"].result_count == 1
    assert client.get(url(IndicatorPopulationBound, "add")).status_code == 403


def test_a_province_officer_deletes_their_bound_through_the_service(
    client: Client, area_tree: AreaTree, province_officer: User, django_capture_on_commit_callbacks
):
    bound = PopulationBoundFactory(province=area_tree.province)
    logged_in(client, province_officer)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url(IndicatorPopulationBound, "delete", bound.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not IndicatorPopulationBound.objects.exists()
    assert len(callbacks) == 1  # the province's recompute


def test_officers_read_the_derivations_and_only_superusers_change_them(
    client: Client, province_officer: User, superuser: User, django_capture_on_commit_callbacks
):
    rule = CapabilityDerivationFactory()
    source, target = CapabilityFactory(), CapabilityFactory()
    form = {"kind": DerivationKind.IMPLIES, "source": source.pk, "target": target.pk}
    logged_in(client, province_officer)
    assert client.get(url(CapabilityDerivation, "changelist")).status_code == 200
    assert client.get(url(CapabilityDerivation, "add")).status_code == 403
    assert client.post(url(CapabilityDerivation, "add"), form).status_code == 403
    client.post(url(CapabilityDerivation, "delete", rule.pk), {"post": "yes"})
    assert CapabilityDerivation.objects.count() == 1

    logged_in(client, superuser)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert client.post(url(CapabilityDerivation, "add"), form).status_code == 302
    assert len(callbacks) == 1  # every province's masks and counts
    refused = client.post(url(CapabilityDerivation, "add"), {**form, "source": target.pk})  # target → itself
    assert "target" in refused.context["adminform"].form.errors
    assert client.post(url(CapabilityDerivation, "delete", rule.pk), {"post": "yes"}).status_code == 302
    assert list(CapabilityDerivation.objects.values_list("source", "target")) == [(source.pk, target.pk)]
