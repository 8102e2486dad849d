"""The OpenAPI schema of the inputs sync reads, generated from their one definition (``fieldteam.sync.fields``).

The serializers built here document; they never validate (the readers of ``fieldteam.sync`` do,
through the same ``Form``s). Each form becomes one schema component named after it, built once,
so every limit, type, choice and required field in the schema is the one the reader enforces.
"""

from __future__ import annotations

import functools
from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from fieldteam.sync import fields as spec


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": spec.ID_LIMIT - 1},
            {"type": "string", "format": "uuid"},
        ]
    }
)
class ReferenceField(serializers.Field):
    """A server id, or the client id of an item sent earlier (documentation only)."""


def _common(field: spec.Field, *, entry: bool = False) -> dict[str, Any]:
    """``entry``: the field describes each entry of a list, which is never absent or null."""
    options: dict[str, Any] = {"required": field.required}
    if not field.required and not entry:
        options["allow_null"] = True  # an optional field takes null as absent
    if field.help_text:
        options["help_text"] = field.help_text
    return options


def _list(field: spec.ListOf, options: dict[str, Any]) -> serializers.Field:
    # A ListField, not ``many=True``: drf-spectacular states a ListField's limits (minItems, maxItems).
    limits: dict[str, Any] = {"min_length": field.min_items or None, "max_length": field.max_items}
    child = serializer_for(field.of)() if isinstance(field.of, spec.Form) else schema_field(field.of, entry=True)
    return serializers.ListField(child=child, **limits, **options)


def _nested(field: spec.Nested, options: dict[str, Any]) -> serializers.Field:
    return serializer_for(field.form)(**options)


# Each kind of field and the DRF field that documents it (type, limits), given the common options.
_BUILDERS: dict[type[spec.Field], Any] = {
    spec.Text: lambda f, o: serializers.CharField(max_length=f.max_length, allow_blank="allow_null" in o, **o),
    spec.Choice: lambda f, o: serializers.ChoiceField(choices=f.choices, allow_blank="allow_null" in o, **o),
    spec.WholeNumber: lambda f, o: serializers.IntegerField(
        min_value=1 - spec.INT_LIMIT, max_value=spec.INT_LIMIT - 1, **o
    ),
    spec.ServerId: lambda f, o: serializers.IntegerField(min_value=1, max_value=spec.ID_LIMIT - 1, **o),
    spec.Reference: lambda f, o: ReferenceField(**o),
    spec.ClientId: lambda f, o: serializers.UUIDField(**o),
    spec.Day: lambda f, o: serializers.DateField(**o),
    spec.Instant: lambda f, o: serializers.DateTimeField(**o),
    spec.CapabilityCode: lambda f, o: serializers.CharField(**o),
    spec.Nested: _nested,
    spec.ListOf: _list,
}


def schema_field(field: spec.Field, *, entry: bool = False) -> serializers.Field:
    """The DRF field that documents ``field`` (its type, limits and whether it is required)."""
    return _BUILDERS[type(field)](field, _common(field, entry=entry))


@functools.cache
def serializer_for(form: spec.Form) -> type[serializers.Serializer]:
    """A schema-only serializer class named after ``form`` (one class per form: one component)."""
    attrs: dict[str, Any] = {f.name: schema_field(f) for f in form.fields}
    attrs["__doc__"] = form.description or None
    attrs["__module__"] = __name__
    return type(form.name, (serializers.Serializer,), attrs)


@functools.cache
def _sync_item(kind: str) -> type[serializers.Serializer]:
    """One kind's item of a batch: ``{"kind": kind, "client_id", "data"}``."""
    form = spec.DATA_OF_KIND[kind]
    name = "".join(part.capitalize() for part in kind.split("_")) + "Item"
    # The one value, written out: not an enum component of its own per kind.
    kind_field = extend_schema_field({"type": "string", "enum": [kind]})(type(f"{name}Kind", (serializers.Field,), {}))
    attrs = {
        "kind": kind_field(),
        spec.ITEM_CLIENT_ID.name: schema_field(spec.ITEM_CLIENT_ID),
        "data": serializer_for(form)(),
        "__module__": __name__,
    }
    return type(name, (serializers.Serializer,), attrs)


SYNC_ITEM = PolymorphicProxySerializer(
    component_name="SyncItemInput",
    serializers={kind: _sync_item(kind) for kind in spec.KINDS},
    resource_type_field_name="kind",
)


@extend_schema_field(SYNC_ITEM)
class SyncItemField(serializers.Field):
    """An item of a batch, of any kind (documentation only)."""


SyncRequest = type(
    "SyncRequest",
    (serializers.Serializer,),
    {
        spec.BATCH_ITEMS_NAME: serializers.ListField(child=SyncItemField(), max_length=spec.MAX_BATCH_ITEMS),
        "__doc__": f"A batch: at most {spec.MAX_BATCH_ITEMS} items, each applied on its own, in order.",
        "__module__": __name__,
    },
)


AssistanceLogInput = serializer_for(spec.ASSISTANCE_LOG_POST)
TrainingSessionInput = serializer_for(spec.TRAINING_SESSION_POST)
