"""The inputs of sync, each defined once: its fields, their types, limits and whether required.

Each item kind's data, the batch envelope and the single-item POSTs are a ``Form`` of ``Field``s.
The same objects serve twice: the readers of ``fieldteam.sync.items`` read an item's data through
them (``field.read(reader)``: the ``Reader`` collects every problem, with its field, message and
code, before raising them together), and ``fieldteam.api.inputs`` builds the OpenAPI schema of
the same inputs from them. A limit is therefore written once, here or in the service that owns it
(``NOTE_MAX_LENGTH``), and the schema cannot drift from what the server enforces
(``tests/api/test_input_schema.py`` holds the two together).

What a field cannot say (a log names a resident or a household, not both; an id must name
something in the caller's scope) is checked by the readers and described in the form's text.
A reader goes by hand rather than through DRF serializers: the log path reads an item in a few
microseconds, which a serializer would multiply (``bench/api.py``'s CPU per log).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass
from dataclasses import field as attribute
from datetime import date, datetime
from typing import Any, Final, cast

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import AssistanceChannel, AssistanceOutcome, ConsentChannel, ConsentPurpose, NotDoneReason, Sex
from fieldteam.control_characters import CONTROL_CHARACTERS
from fieldteam.models import ConsentRecord, Household, Resident, TrainingSession
from fieldteam.services.assistance import NOTE_MAX_LENGTH
from fieldteam.services.people import MAX_HOUSEHOLD_RESIDENTS

MAX_BATCH_ITEMS = 500
MAX_LOG_ITEMS = 50
MAX_ATTENDEES = 500
# The bounds of what a PostgreSQL ``integer`` and ``bigint`` hold (exclusive): ``WholeNumber``, ids.
INT_LIMIT = 2**31
ID_LIMIT = 2**63

HOUSEHOLD: Final = "household"
RESIDENT: Final = "resident"
ASSISTANCE_LOG = "assistance_log"
TRAINING_SESSION = "training_session"
KINDS = (HOUSEHOLD, RESIDENT, ASSISTANCE_LOG, TRAINING_SESSION)

# NUL and lone surrogates, which no database column can store (PostgreSQL refuses them outright),
# and the other control characters: the API parsers' rule, applied here item by item.
_UNSTORABLE = CONTROL_CHARACTERS


def _length(model: type[models.Model], name: str) -> int:
    """The ``max_length`` of a model's text column: an input is held to what its column stores."""
    max_length = cast("models.Field[Any, Any]", model._meta.get_field(name)).max_length
    assert max_length is not None, f"{model.__name__}.{name} has no max_length"  # noqa: S101
    return max_length


# --- reading ---------------------------------------------------------------------------------------


class Reader:
    """Reads the fields of one object of input, collecting every problem before raising them together."""

    def __init__(self, data: dict[str, Any], form: Form) -> None:
        self.data = data
        self.form = form
        self.errors: dict[str, list[ValidationError]] = {}
        allowed = form.names
        for key in data:
            if key not in allowed:
                self.error(str(key), _("Unknown field."), "unknown_field")

    def error(self, name: str, message: Any, code: str, params: dict[str, Any] | None = None) -> None:
        self.errors.setdefault(name, []).append(ValidationError(message, code=code, params=params))

    def check(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)

    def _value(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None and required:
            self.error(name, _("This field is required."), "required")
        return value

    def text(self, name: str, *, max_length: int, required: bool = False) -> str:
        value = self._value(name, required)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.error(name, _("Enter text."), "invalid")
            return ""
        if _UNSTORABLE.search(value):
            self.error(name, _("Remove the control characters from this text."), "invalid")
            return ""
        if len(value) > max_length:
            self.error(name, _("Keep this under %(limit)s characters."), "too_long", {"limit": max_length})
            return ""
        if required and not value.strip():
            self.error(name, _("This field is required."), "required")
        return value

    def choice_value(self, label: str, value: Any, choices: list[str], *, required: bool = False) -> str:
        if value is None or value == "":
            if required:
                self.error(label, _("This field is required."), "required")
            return ""
        if not isinstance(value, str) or value not in choices:
            self.error(label, _("Choose one of: %(choices)s."), "invalid_choice", {"choices": ", ".join(choices)})
            return ""
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self._value(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(name, _("Enter a whole number."), "invalid")
            return None
        if not -INT_LIMIT < value < INT_LIMIT:
            self.error(name, _("This number is out of range."), "range")
            return None
        return value

    def id_value(self, label: str, value: Any) -> int | uuid.UUID | None:
        """A server id (a positive integer) or the client id (a UUID) of an item sent earlier."""
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < ID_LIMIT:
            return value
        if isinstance(value, str):
            try:
                return uuid.UUID(value)
            except ValueError:
                pass
        self.error(label, _("Give a server id or the client id of an item sent earlier."), "invalid")
        return None

    def reference(self, name: str, *, required: bool = False) -> int | uuid.UUID | None:
        value = self._value(name, required)
        return None if value is None else self.id_value(name, value)

    def positive_id(self, name: str, message: Any) -> int | None:
        """A required server id (a positive integer)."""
        value = self._value(name, True)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < ID_LIMIT:
            self.error(name, message, "invalid")
            return None
        return value

    def date(self, name: str) -> date | None:
        value = self._value(name, False)
        if value is None:
            return None
        parsed = None
        if isinstance(value, str):
            try:
                parsed = parse_date(value)
            except ValueError:
                parsed = None
        if parsed is None:
            self.error(name, _("Enter a date as YYYY-MM-DD."), "invalid")
        return parsed

    def datetime(self, name: str, *, required: bool = False) -> datetime | None:
        value = self._value(name, required)
        if value is None:
            return None
        parsed = None
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value)
            except (ValueError, OverflowError):
                parsed = None
        if parsed is None:
            self.error(name, _("Enter a date and time in ISO 8601, e.g. 2026-03-01T09:30:00+07:00."), "invalid")
            return None
        if timezone.is_naive(parsed):
            try:
                parsed = timezone.make_aware(parsed)
            except (ValueError, OverflowError):
                self.error(name, _("This time does not exist in the local time zone."), "invalid")
                return None
        try:
            parsed.astimezone(timezone.get_current_timezone())
        except (ValueError, OverflowError):
            self.error(name, _("This date is out of range."), "range")
            return None
        return parsed

    def items_list(self, name: str, *, required: bool, limit: int) -> list[Any]:
        value = self._value(name, required)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(name, _("Send a list."), "invalid")
            return []
        if len(value) > limit:
            self.error(name, _("At most %(limit)s entries."), "too_many", {"limit": limit})
            return []
        return value


# --- the kinds of field ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One field of an input: its name, whether it must be given, and (in subclasses) its type and limits.

    ``required``: ``null`` or absent is refused with ``required``; an optional field takes ``null``
    as absent. ``help_text`` goes to the schema only.
    """

    name: str
    _: KW_ONLY
    required: bool = False
    help_text: str = ""

    def read(self, reader: Reader) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Text(Field):
    """A string of at most ``max_length`` characters, no control characters; required: not blank."""

    _: KW_ONLY
    max_length: int

    def read(self, reader: Reader) -> str:
        return reader.text(self.name, max_length=self.max_length, required=self.required)


@dataclass(frozen=True)
class Choice(Field):
    """One of ``choices`` (value, label); an optional one also takes ``""`` as absent."""

    choices: Sequence[tuple[str, Any]]  # kept as a tuple
    values: list[str] = attribute(init=False, repr=False)  # the values of ``choices``, for reading

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        object.__setattr__(self, "values", [value for value, _label in self.choices])

    def read(self, reader: Reader) -> str:
        return self.read_value(reader, self.name, reader.data.get(self.name))

    def read_value(self, reader: Reader, label: str, value: Any) -> str:
        return reader.choice_value(label, value, self.values, required=self.required)


@dataclass(frozen=True)
class WholeNumber(Field):
    """An integer a PostgreSQL ``integer`` holds."""

    def read(self, reader: Reader) -> int | None:
        return reader.integer(self.name, required=self.required)


@dataclass(frozen=True)
class ServerId(Field):
    """The server id of an existing object (a positive integer); always required, ``message`` when wrong."""

    _: KW_ONLY
    required: bool = True
    message: str | Promise = ""

    def read(self, reader: Reader) -> int | None:
        return reader.positive_id(self.name, self.message)


@dataclass(frozen=True)
class Reference(Field):
    """A server id, or the client id (a UUID) of an item sent earlier, in this batch or before."""

    def read(self, reader: Reader) -> int | uuid.UUID | None:
        return reader.reference(self.name, required=self.required)


@dataclass(frozen=True)
class ClientId(Field):
    """The UUID a phone made for an item (read by the envelope, with its own messages)."""


@dataclass(frozen=True)
class Day(Field):
    """A date, ``YYYY-MM-DD``."""

    def read(self, reader: Reader) -> date | None:
        return reader.date(self.name)


@dataclass(frozen=True)
class Instant(Field):
    """A date and time in ISO 8601; without an offset, in the server's time zone."""

    def read(self, reader: Reader) -> datetime | None:
        return reader.datetime(self.name, required=self.required)


@dataclass(frozen=True)
class CapabilityCode(Field):
    """A capability's code; the reader looks it up in the catalogue (``Unknown capability.``)."""

    def read(self, reader: Reader) -> Any:
        return reader._value(self.name, self.required)


@dataclass(frozen=True)
class ListOf(Field):
    """A list of ``of`` (a field for each entry, or a form), at most ``max_items`` entries.

    ``empty_message``: a list must have an entry, and an empty one is refused with it.
    """

    of: Field | Form
    _: KW_ONLY
    max_items: int | None = None
    empty_message: str | Promise | None = None

    @property
    def min_items(self) -> int:
        return 1 if self.empty_message is not None else 0

    def read(self, reader: Reader) -> list[Any]:
        """The raw entries (each still to be read), or ``[]`` after recording the problem."""
        entries = reader.items_list(self.name, required=self.required, limit=self.max_items or ID_LIMIT)
        self.refuse_empty(reader)
        return entries

    def refuse_empty(self, reader: Reader) -> None:
        value = reader.data.get(self.name)
        if self.empty_message is not None and isinstance(value, list) and not value:
            reader.error(self.name, self.empty_message, "required")


@dataclass(frozen=True)
class Nested(Field):
    """An object of its own, read with ``form`` (its errors named ``<name>.<field>``)."""

    form: Form


@dataclass(frozen=True, eq=False)  # one form is one schema component: compared by identity
class Form:
    """The fields of one object of input, in the order they are read and documented.

    ``name`` names its schema component; ``description`` says what the fields cannot.
    """

    name: str
    fields: tuple[Field, ...]
    description: str = ""
    by_name: dict[str, Field] = attribute(init=False, repr=False)  # the fields by name
    names: frozenset[str] = attribute(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})
        object.__setattr__(self, "names", frozenset(self.by_name))

    def __getitem__(self, name: str) -> Any:
        return self.by_name[name]

    def extended(self, name: str, fields: Iterable[Field], *, description: str = "") -> Form:
        """This form with ``fields`` first, under another name (a single POST: the item's data and its id)."""
        return Form(name, (*fields, *self.fields), description or self.description)


# --- the inputs --------------------------------------------------------------------------------------

CONSENT_DATA = Form(
    "ConsentItemData",
    (
        Choice("channel", ConsentChannel.choices, required=True),
        Text(
            "notice_version",
            max_length=_length(ConsentRecord, "notice_version"),
            help_text="Default: the current notice.",
        ),
        ListOf(
            "purposes",
            Choice("purposes", ConsentPurpose.choices),
            empty_message=_("Choose the purposes the resident agreed to."),
            help_text="Default: every purpose of the notice.",
        ),
        Instant("given_at", help_text="Default: when the server receives it."),
    ),
    "The resident's consent to the notice, required with a citizen ID or phone number.",
)

RESIDENT_DATA = Form(
    "ResidentItemData",
    (
        Reference("household", required=True),
        Text("full_name", max_length=_length(Resident, "full_name"), required=True),
        Choice("sex", Sex.choices, required=True),
        WholeNumber("birth_year"),
        Day("birth_date"),
        # Read as text of up to 30 characters; the service checks the number itself.
        Text("citizen_id", max_length=30),
        Text("phone", max_length=30),
        Nested("consent", CONSENT_DATA),
    ),
)

# A person registered with a new household (``HOUSEHOLD_DATA["residents"]``): a resident item's
# data without the household, and the client id later items may refer to the person by.
HOUSEHOLD_RESIDENT = Form(
    "HouseholdResidentData",
    (
        ClientId("client_id", required=False, help_text="The client-made id later items refer to the person by."),
        *(f for f in RESIDENT_DATA.fields if f.name != "household"),
    ),
)

# A household and its people, registered together or not at all (``residents``); a household
# item without ``residents`` (older phones, people added later as resident items) still works.
HOUSEHOLD_DATA = Form(
    "HouseholdItemData",
    (
        ServerId("village", message=_("Give the id of an area.")),
        Text("code", max_length=_length(Household, "code")),
        Text("head_name", max_length=_length(Household, "head_name")),
        Text("address", max_length=_length(Household, "address")),
        ListOf(
            "residents",
            HOUSEHOLD_RESIDENT,
            max_items=MAX_HOUSEHOLD_RESIDENTS,
            help_text="The household's people, registered with it in one transaction: all, or nothing.",
        ),
    ),
    "With residents, a refused person (errors under residents[<position>].<field>) saves nothing of the item.",
)

LOG_ITEM = Form(
    "AssistanceItemInput",
    (
        CapabilityCode("capability", required=True, help_text="A capability code, e.g. smartphone."),
        Choice("outcome", AssistanceOutcome.choices, required=True),
        Choice("reason", NotDoneReason.choices, help_text="Only when not done."),
    ),
)

ASSISTANCE_LOG_DATA = Form(
    "AssistanceLogItemData",
    (
        ServerId("team", message=_("Give the id of a team.")),
        Reference("resident"),
        Reference("household"),
        Instant("occurred_at", required=True),
        Choice("channel", AssistanceChannel.choices, required=True),
        Text("note", max_length=NOTE_MAX_LENGTH),
        ListOf(
            "items",
            LOG_ITEM,
            required=True,
            max_items=MAX_LOG_ITEMS,
            empty_message=_("Choose at least one thing you helped with."),
        ),
    ),
    "Give either a resident or a household, not both.",
)

TRAINING_SESSION_DATA = Form(
    "TrainingSessionItemData",
    (
        ServerId("team", message=_("Give the id of a team.")),
        ServerId("village", message=_("Give the id of an area.")),
        Text("topic", max_length=_length(TrainingSession, "topic"), required=True),
        Instant("started_at", required=True),
        Instant("ended_at"),
        CapabilityCode("capability", help_text="Default: basic_digital_skills."),
        ListOf(
            "attendees",
            Reference("attendees"),
            required=True,
            max_items=MAX_ATTENDEES,
            empty_message=_("Record at least one attendee."),
        ),
    ),
)

DATA_OF_KIND: dict[str, Form] = {
    HOUSEHOLD: HOUSEHOLD_DATA,
    RESIDENT: RESIDENT_DATA,
    ASSISTANCE_LOG: ASSISTANCE_LOG_DATA,
    TRAINING_SESSION: TRAINING_SESSION_DATA,
}

# The batch envelope: ``{"items": [{"kind", "client_id", "data"}, ...]}``; ``data`` is the form of its kind.
ITEM_CLIENT_ID = ClientId("client_id", required=True)
BATCH_ITEMS_NAME = "items"

# The single-item POSTs: the item's data, and its client id as ``id`` (optional: the server makes one).
SINGLE_ID = ClientId("id", help_text="The client-made id; a resend with it is recognised.")
ASSISTANCE_LOG_POST = ASSISTANCE_LOG_DATA.extended("AssistanceLogInput", (SINGLE_ID,))
TRAINING_SESSION_POST = TRAINING_SESSION_DATA.extended("TrainingSessionInput", (SINGLE_ID,))
