"""``transactions.in_callers_transaction``: one service, run on its own or in a transaction its caller holds.

The ``*_within`` twins (issue 14, item 8) are gone: ``log_assistance``, ``record_training_session``
and ``set_adoptions`` are one ``transaction.atomic`` function each. On their own they are one
transaction; inside another atomic block they are a savepoint, so a caller that catches their
error carries on; and sync's item and ``create_log`` run them in their own transaction without a
savepoint, through ``in_callers_transaction``, which refuses to run outside one.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fieldteam.choices import AssistanceChannel, AssistanceOutcome
from fieldteam.models import AssistanceLog
from fieldteam.services import adoption, assistance, training
from fieldteam.services.assistance import ItemInput, log_assistance
from fieldteam.transactions import in_callers_transaction
from tests.api.conftest import capabilities, world

__all__ = ["capabilities", "world"]  # fixtures of the API's world

SERVICES = [assistance.log_assistance, training.record_training_session, adoption.set_adoptions]


def _log(world, *, function=log_assistance, capability=None) -> AssistanceLog:
    place = world.places["V1"]
    return function(
        actor=world.member,
        team=place.team,
        occurred_at=timezone.now() - dt.timedelta(hours=1),
        channel=AssistanceChannel.HOME_VISIT,
        resident=place.resident,
        items=[ItemInput(capability or world.skills, AssistanceOutcome.DONE)],
    )


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.__name__)
def test_each_former_twin_is_one_atomic_function(service) -> None:
    assert hasattr(service, "__wrapped__"), "decorated with transaction.atomic"
    for name in ("log_assistance_within", "record_training_session_within", "set_adoptions_within"):
        for module in (assistance, training, adoption):
            assert not hasattr(module, name)


def test_a_plain_function_is_refused() -> None:
    def plain() -> None: ...

    with pytest.raises(TypeError):
        in_callers_transaction(plain)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_refuses_and_writes_nothing(world) -> None:
    assert not connection.in_atomic_block
    before = AssistanceLog.objects.count()
    with pytest.raises(TransactionManagementError):
        _log(world, function=in_callers_transaction(log_assistance))
    assert AssistanceLog.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_on_its_own_it_is_one_transaction(world) -> None:
    # As a request runs it: no transaction around it, and the log is committed.
    assert not connection.in_atomic_block
    log = _log(world)
    assert AssistanceLog.objects.filter(pk=log.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_in_the_callers_transaction_it_takes_no_savepoint_and_rolls_back_with_it(world) -> None:
    before = AssistanceLog.objects.count()
    with transaction.atomic():
        with CaptureQueriesContext(connection) as plain:
            _log(world, function=in_callers_transaction(log_assistance))
        with CaptureQueriesContext(connection) as nested:
            _log(world, capability=world.smartphone)
        transaction.set_rollback(True)
    assert not any("SAVEPOINT" in q["sql"].upper() for q in plain.captured_queries)
    assert any("SAVEPOINT" in q["sql"].upper() for q in nested.captured_queries)
    assert AssistanceLog.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_a_caller_that_catches_the_error_carries_on(world) -> None:
    # Called directly inside a transaction (an admin form, a test), a refused log is a savepoint
    # rolled back: the caller's transaction stays usable.
    with transaction.atomic():
        with pytest.raises(ValidationError):
            _log(world, capability=world.fibre)  # a household's capability, for a resident
        assert AssistanceLog.objects.count() >= 0
