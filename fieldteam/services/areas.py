"""Writes to the area tree and the capability catalogue: official admin units, villages, capabilities."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max, ProtectedError
from django.utils.translation import gettext_lazy as _
from vietnam_provinces import Province, Ward

from fieldteam.choices import COMMUNE_KINDS, PROVINCE_KINDS, VILLAGE_KINDS, AreaKind, CapabilitySubject
from fieldteam.errors import field_error
from fieldteam.models import Area, Capability, Team, User
from fieldteam.models.capabilities import MAX_CAPABILITY_BIT
from fieldteam.permissions import ensure_officer, ensure_superuser
from fieldteam.rollup import recompute
from fieldteam.selectors.population import official_figures_changed

PROVINCE_CODE_LENGTH = 2
COMMUNE_CODE_LENGTH = 5

_PROVINCE_KIND_BY_DIVISION = {"tỉnh": AreaKind.PROVINCE, "thành phố trung ương": AreaKind.CITY}
_COMMUNE_KIND_BY_DIVISION = {"xã": AreaKind.COMMUNE, "phường": AreaKind.WARD, "đặc khu": AreaKind.SPECIAL_ZONE}
# Keeps each ``code IN (...)`` under SQLite's and Oracle's bound-parameter limits.
_LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class AdminUnitsResult:
    """What ``load_admin_units`` did."""

    provinces_created: int = 0
    provinces_updated: int = 0
    communes_created: int = 0
    communes_updated: int = 0

    @property
    def created(self) -> int:
        return self.provinces_created + self.communes_created

    @property
    def updated(self) -> int:
        return self.provinces_updated + self.communes_updated


@dataclass(frozen=True)
class _Unit:
    """One official unit as the package describes it, in our terms."""

    code: str
    name: str
    kind: str
    province_code: str


def province_code(value: Any) -> str:
    """The official province code in our zero-padded form ("2" and 2 become "02")."""
    return str(int(value)).zfill(PROVINCE_CODE_LENGTH)


def commune_code(value: Any) -> str:
    """The official commune code in our zero-padded form (4 and "4" become "00004")."""
    return str(int(value)).zfill(COMMUNE_CODE_LENGTH)


def official_province_codes() -> set[str]:
    """The codes of the 34 provinces of the 2025 reorganisation, zero-padded."""
    return {province_code(p.code) for p in Province.iter_all()}


def _official_units(province_codes: list[str] | None) -> tuple[list[_Unit], list[_Unit]]:
    """Provinces and communes from ``vietnam-provinces``, sorted by code, limited to ``province_codes``."""
    provinces = [
        _Unit(
            code=province_code(p.code),
            name=p.name,
            kind=_PROVINCE_KIND_BY_DIVISION[p.division_type.value],
            province_code=province_code(p.code),
        )
        for p in Province.iter_all()
    ]
    if province_codes is not None:
        known = {p.code for p in provinces}
        wanted = set()
        for raw in province_codes:
            try:
                code = province_code(raw)
            except (TypeError, ValueError):
                code = str(raw)
            if code not in known:
                raise field_error(
                    "province_codes",
                    _("“%(code)s” is not the code of a province after the 2025 reorganisation."),
                    code="unknown_province",
                    params={"code": raw},
                )
            wanted.add(code)
        provinces = [p for p in provinces if p.code in wanted]
    wanted_codes = {p.code for p in provinces}
    communes = [
        _Unit(
            code=commune_code(w.code),
            name=w.name,
            kind=_COMMUNE_KIND_BY_DIVISION[w.division_type.value],
            province_code=province_code(w.province_code),
        )
        for w in Ward.iter_all()
        if province_code(w.province_code) in wanted_codes
    ]
    return sorted(provinces, key=lambda u: u.code), sorted(communes, key=lambda u: u.code)


def _areas_by_code(codes: Iterable[str]) -> dict[str, Area]:
    codes = list(codes)
    found: dict[str, Area] = {}
    for start in range(0, len(codes), _LOOKUP_CHUNK):
        for area in Area.objects.filter(code__in=codes[start : start + _LOOKUP_CHUNK]):
            found[area.code] = area
    return found


def _children(parent: Area | None) -> list[Area]:
    if parent is None:
        return list(Area.objects.get_root_nodes())
    return list(Area.objects.filter(path__startswith=parent.path, depth=parent.depth + 1))


def _insert_sorted(parent: Area | None, new_nodes: list[Area]) -> None:
    """Insert ``new_nodes`` (sorted by code) as children of ``parent`` (roots when ``None``).

    Nodes that sort after every existing sibling, which is all of them on a first load, get their
    paths computed here and go in with one ``bulk_create``: adding 3,321 communes one by one
    through treebeard costs several queries each. A node that must go between existing siblings
    (a subset loaded earlier, a unit added to the package later) is rare, so treebeard inserts it
    and shifts the siblings to its right together with their subtrees.
    """
    existing = _children(parent)
    last_code = max((child.code for child in existing), default=None)
    between = [node for node in new_nodes if last_code is not None and node.code < last_code]
    after = [node for node in new_nodes if last_code is None or node.code > last_code]

    for node in between:
        if parent is None:
            Area.objects.add_root(instance=node)
        else:
            Area.objects.add_child(parent, instance=node)
    if not after:
        return

    if between:
        existing = _children(parent)
    last_path = max((child.path for child in existing), default=None)
    depth = 1 if parent is None else parent.depth + 1
    position = Area._str2int(last_path[-Area.steplen :]) if last_path else 0
    for node in after:
        position += 1
        node.path = Area._get_path(parent.path if parent else None, depth, position)
        node.depth = depth
        node.numchild = 0
    Area.objects.bulk_create(after)
    if parent is not None:
        Area.objects.filter(pk=parent.pk).update(numchild=F("numchild") + len(after))
        parent.refresh_from_db(fields=["path", "depth", "numchild"])


def _changed(area: Area, **values: Any) -> bool:
    """Set ``values`` on ``area``; whether any of them differed."""
    changed = False
    for field, value in values.items():
        if getattr(area, field) != value:
            setattr(area, field, value)
            changed = True
    return changed


@transaction.atomic
def load_admin_units(*, province_codes: list[str] | None = None) -> AdminUnitsResult:
    """Load the 34 provinces and 3,321 communes/wards/special zones of the 2025 reorganisation.

    Source: the installed ``vietnam-provinces`` package. Codes are the official statistics office
    codes, zero-padded (province "52", commune "23575"). Communes go directly under their province;
    ``Area.province`` points to the province (to itself for a province).

    Idempotent: units are matched on code, a second run creates and updates nothing; a changed
    name or kind is updated. Units the package no longer lists are left alone (villages, teams and
    people may hang off them). An existing commune found somewhere under its province (say below an
    old district) stays where it is; one under another province, or a code already used by an area
    of another level, is an error: moving data across provinces is not done silently.

    ``province_codes`` limits the load to those provinces ("2" or "02" alike); unknown codes are a
    ``ValidationError`` on ``province_codes``. One transaction: on an error nothing is saved.
    """
    provinces, communes = _official_units(province_codes)
    existing = _areas_by_code([u.code for u in provinces] + [u.code for u in communes])

    for unit, kinds in [(u, PROVINCE_KINDS) for u in provinces] + [(u, COMMUNE_KINDS) for u in communes]:
        area = existing.get(unit.code)
        if area is not None and area.kind not in kinds:
            raise field_error(
                "code",
                _("Code “%(code)s” of %(name)s is already used by the area “%(other)s”."),
                code="code_taken",
                params={"code": unit.code, "name": unit.name, "other": area.name},
            )

    # Provinces first: inserting one between existing roots shifts the paths of those after it.
    new_provinces = [Area(code=u.code, name=u.name, kind=u.kind) for u in provinces if u.code not in existing]
    _insert_sorted(None, new_provinces)
    # By code: bulk_create leaves pks unset where the database cannot return them.
    Area.objects.filter(code__in=[a.code for a in new_provinces]).update(province=F("id"))
    provinces_updated = []
    for unit in provinces:
        area = existing.get(unit.code)
        if area is not None and _changed(area, name=unit.name, kind=unit.kind, province_id=area.pk):
            provinces_updated.append(area)
    Area.objects.bulk_update(provinces_updated, ["name", "kind", "province"])

    province_rows = {a.code: a for a in Area.objects.filter(code__in=[u.code for u in provinces])}
    if new_provinces:
        # Inserting provinces may have shifted the paths of the communes read above.
        existing = _areas_by_code([u.code for u in communes])
    communes_updated = []
    new_communes: dict[str, list[Area]] = {}
    for unit in communes:
        province = province_rows[unit.province_code]
        area = existing.get(unit.code)
        if area is None:
            new_communes.setdefault(unit.province_code, []).append(
                Area(code=unit.code, name=unit.name, kind=unit.kind, province=province)
            )
            continue
        if not area.path.startswith(province.path):
            raise field_error(
                "code",
                _("Commune “%(code)s” %(name)s lies outside the province %(province)s in the database."),
                code="commune_outside_province",
                params={"code": unit.code, "name": unit.name, "province": province.name},
            )
        if _changed(area, name=unit.name, kind=unit.kind, province_id=province.pk):
            communes_updated.append(area)
    Area.objects.bulk_update(communes_updated, ["name", "kind", "province"], batch_size=_LOOKUP_CHUNK)
    for code, nodes in new_communes.items():
        _insert_sorted(province_rows[code], nodes)
    # The tree (paths, names) the official figures are resolved over: moved on commit.
    official_figures_changed(*(province.pk for province in province_rows.values()))

    return AdminUnitsResult(
        provinces_created=len(new_provinces),
        provinces_updated=len(provinces_updated),
        communes_created=sum(len(nodes) for nodes in new_communes.values()),
        communes_updated=len(communes_updated),
    )


def _province_of(area: Area) -> int | None:
    if area.kind in PROVINCE_KINDS:
        return area.pk
    return area.province_id


@transaction.atomic
def create_village(
    *,
    actor: User | None,
    commune: Area,
    code: str,
    name: str,
    kind: str,
    kind_label: str = "",
    is_active: bool = True,
) -> Area:
    """Create a village (thôn, bản, tổ dân phố, ...) under ``commune``, or under any other area.

    Only an officer of ``commune`` (its commune's or its province's; ``actor=None``: the system).
    ``kind`` must be one of the village kinds, ``kind_label`` the local list's own word for it when
    none of them is (``fieldteam.village_kinds``); ``code`` (the province's own village code) must
    be unused by every area. Errors are a ``ValidationError`` naming the field; nothing is saved.
    """
    if commune.pk is None or not Area.objects.filter(pk=commune.pk).exists():
        raise field_error("commune", _("The parent area does not exist."), code="invalid_parent")
    ensure_officer(actor, commune, field="commune")
    code = (code or "").strip()
    name = (name or "").strip()
    if kind not in VILLAGE_KINDS:
        raise field_error(
            "kind", _("“%(kind)s” is not a kind of village."), code="invalid_village_kind", params={"kind": kind}
        )
    if not code:
        raise field_error("code", _("A village needs a code."), code="required")
    if not name:
        raise field_error("name", _("A village needs a name."), code="required")
    province_id = _province_of(commune)
    if province_id is None:
        raise field_error(
            "commune",
            _("The area %(area)s is not linked to a province."),
            code="parent_without_province",
            params={"area": commune.name},
        )
    if Area.objects.filter(code=code).exists():
        raise _code_taken(code)

    village = Area(code=code, name=name, kind=kind, kind_label=kind_label, province_id=province_id, is_active=is_active)
    village.full_clean(exclude=["path", "depth", "numchild"], validate_unique=False)
    try:
        # treebeard locks the parent row and keeps the siblings ordered by code.
        village = Area.objects.add_child(commune, instance=village)
        official_figures_changed(province_id)  # a child without a figure: its parent's sum changes
        return village
    except IntegrityError:
        # Another request took the code between our check and the insert.
        if Area.objects.filter(code=code).exists():
            raise _code_taken(code) from None
        raise


_UNIT_FIELDS = ("code", "name", "kind", "kind_label", "is_active")


# Provinces and communes are the official list's (load_admin_units): only a superuser adds or changes one by hand.
OFFICIAL_UNITS_REFUSED = _("Only an administrator changes the official units.")


def _ensure_may_change(actor: User | None, area: Area, *, field: str) -> None:
    """Villages: an officer of the area; the official units above them: a superuser."""
    ensure_officer(actor, area, field=field)
    if area.kind not in VILLAGE_KINDS:
        ensure_superuser(actor, field=field, message=OFFICIAL_UNITS_REFUSED)


@transaction.atomic
def create_area(
    *,
    actor: User | None,
    parent: Area | None,
    code: str,
    name: str,
    kind: str,
    kind_label: str = "",
    is_active: bool = True,
) -> Area:
    """Add an area by hand: a village under ``parent`` (``create_village``), or an official unit.

    Villages: an officer of ``parent``. Provinces, communes and districts normally come from
    ``load_admin_units``; added by hand, only by a superuser (``actor=None``: the system), a
    province without a parent, anything else under ``parent``. Errors are a ``ValidationError``
    naming the field (``parent``, ``code``, ``kind``, ...); nothing is saved.
    """
    if kind in VILLAGE_KINDS:
        if parent is None:
            raise field_error("parent", _("Choose the commune this village lies in."), code="required")
        try:
            return create_village(
                actor=actor, commune=parent, code=code, name=name, kind=kind, kind_label=kind_label, is_active=is_active
            )
        except ValidationError as error:
            raise _renamed(error, commune="parent") from error
    if parent is not None:
        ensure_officer(actor, parent, field="parent")
    ensure_superuser(actor, field="kind", message=OFFICIAL_UNITS_REFUSED)
    code = (code or "").strip()
    if Area.objects.filter(code=code).exists():
        raise field_error("code", _("An area with this code already exists."), code="duplicate_code")
    area = Area(code=code, name=(name or "").strip(), kind=kind, kind_label=kind_label, is_active=is_active)
    if kind in PROVINCE_KINDS:
        if parent is not None:
            raise field_error("parent", _("A province has no parent area."), code="province_has_parent")
        area.full_clean(exclude=["path", "depth", "numchild", "province"], validate_unique=False)
        Area.objects.add_root(instance=area)
        area.province = area
        area.save(update_fields=["province"])
        official_figures_changed(area.pk)
        return area
    if parent is None:
        raise field_error("parent", _("Choose the area this one lies in."), code="required")
    area.province_id = _province_of(parent)
    area.full_clean(exclude=["path", "depth", "numchild"], validate_unique=False)
    official_figures_changed(area.province_id)
    return Area.objects.add_child(parent, instance=area)


@transaction.atomic
def update_area(*, actor: User | None, area: Area, parent: Area | None = None, **changes: Any) -> Area:
    """Change an area's own fields (``code``, ``name``, ``kind``, ``kind_label``, ``is_active``) and,
    with ``parent``, move it there (``move_area``).

    Villages: an officer of the area; official units: a superuser. Errors are a ``ValidationError``
    naming the field; nothing is saved.
    """
    _ensure_may_change(actor, area, field="parent")
    unknown = set(changes) - set(_UNIT_FIELDS)
    if unknown:
        raise field_error(sorted(unknown)[0], _("This field cannot be changed here."), code="not_editable")
    row = Area.objects.select_for_update().get(pk=area.pk)
    for name, value in changes.items():
        setattr(row, name, value)
    if changes:
        row.full_clean(exclude=["path", "depth", "numchild"])
        row.save(update_fields=list(changes))
        official_figures_changed(row.province_id)  # a name or activity the figures show or follow
    if parent is not None and Area.objects.get_parent(row) != parent:
        row = move_area(actor=actor, area=row, parent=parent)
    return row


@transaction.atomic
def move_area(*, actor: User | None, area: Area, parent: Area) -> Area:
    """Move ``area`` (with its subtree) under ``parent``, within its province.

    An officer of both places for a village, a superuser for an official unit. Every population row
    carries its province: a move across provinces is a data migration, refused here (``parent``).
    """
    _ensure_may_change(actor, area, field="parent")
    ensure_officer(actor, parent, field="parent")
    area = Area.objects.get(pk=area.pk)  # treebeard moves by path: the current one
    parent = Area.objects.get(pk=parent.pk)
    if parent.path.startswith(area.path):
        raise field_error("parent", _("An area cannot be moved under itself."), code="move_into_self")
    if _province_of(parent) != area.province_id:
        raise field_error("parent", _("An area can only be moved within its province."), code="move_across_provinces")
    Area.objects.move(area, parent, "sorted-child")
    official_figures_changed(area.province_id)
    area.refresh_from_db()
    # Its villages' counts now add to another commune's stored sums.
    recompute.rebuild_commune_counts(area.province_id)
    return area


@transaction.atomic
def delete_village(*, actor: User | None, area: Area) -> None:
    """Remove a village entered by mistake: a leaf, by an officer of it, while nothing refers to it.

    Official units (provinces, communes) are the official list's and are never deleted by hand.
    """
    row = Area.objects.select_for_update().get(pk=area.pk)
    _ensure_may_change(actor, row, field="parent")
    if row.kind not in VILLAGE_KINDS or row.numchild:
        raise field_error("parent", _("Only a village with no areas below it can be deleted."), code="protected")
    message = _("This village has people, teams or values: it cannot be deleted.")
    # A team's villages are a many-to-many link, which the database would drop without a word.
    if Team.objects.filter(areas=row).exists():
        raise field_error("parent", message, code="protected")
    official_figures_changed(row.province_id)
    try:
        with transaction.atomic():
            row.delete()
    except ProtectedError:
        raise field_error("parent", message, code="protected") from None


def _renamed(error: ValidationError, **names: str) -> ValidationError:
    """``error`` with its fields renamed (a service's argument name to the caller's)."""
    if not hasattr(error, "error_dict"):
        return error
    return ValidationError({names.get(key, key): value for key, value in error.error_dict.items()})


def _code_taken(code: str) -> ValidationError:
    return field_error(
        "code", _("An area with the code “%(code)s” already exists."), code="duplicate_code", params={"code": code}
    )


@transaction.atomic
def create_capability(
    *,
    code: str,
    name: str,
    subject: str,
    description: str = "",
    province: Area | None = None,
    sort_order: int = 100,
) -> Capability:
    """Add a capability to the catalogue, with the next free bit of the capability masks.

    Bits are handed out above the highest ever assigned, so a bit stays with its capability for
    good. With all bits 0..62 taken the catalogue is full: ``ValidationError`` on ``code``.
    ``province`` set means a province's own capability; it must be a province.
    """
    code = (code or "").strip()
    if subject not in CapabilitySubject.values:
        raise field_error(
            "subject", _("“%(subject)s” is not a valid holder."), code="invalid_subject", params={"subject": subject}
        )
    if province is not None and province.kind not in PROVINCE_KINDS:
        raise field_error(
            "province", _("%(area)s is not a province."), code="not_a_province", params={"area": province.name}
        )
    if Capability.objects.filter(code=code).exists():
        raise _capability_code_taken(code)

    # Two concurrent creators can pick the same bit; the unique constraint stops the second, which
    # then retries with a fresh maximum (READ COMMITTED sees the committed row on the next query).
    for _attempt in range(3):
        highest = Capability.objects.aggregate(highest=Max("bit"))["highest"]
        bit = 0 if highest is None else highest + 1
        if bit > MAX_CAPABILITY_BIT:
            raise field_error(
                "code",
                _("The catalogue is full: all %(count)d capability slots are in use."),
                code="catalogue_full",
                params={"count": MAX_CAPABILITY_BIT + 1},
            )
        capability = Capability(
            code=code,
            name=(name or "").strip(),
            subject=subject,
            description=description,
            province=province,
            sort_order=sort_order,
            bit=bit,
        )
        capability.full_clean(validate_unique=False)
        try:
            with transaction.atomic():
                capability.save(force_insert=True)
        except IntegrityError:
            if Capability.objects.filter(code=code).exists():
                raise _capability_code_taken(code) from None
            continue
        return capability
    raise field_error("code", _("The catalogue is busy; please try again."), code="busy")


def _capability_code_taken(code: str) -> ValidationError:
    return field_error(
        "code",
        _("A capability with the code “%(code)s” already exists."),
        code="duplicate_code",
        params={"code": code},
    )
