"""The administrative area tree: province → commune/ward/special zone → village, any depth."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from treebeard.mp_tree import MP_Node

from fieldteam.choices import COMMUNE_KINDS, PROVINCE_KINDS, VILLAGE_KINDS, AreaKind


class Area(MP_Node):
    """One administrative unit.

    Materialised paths (django-treebeard) make a subtree one indexed prefix scan
    (``path LIKE '0001000A%'``) whatever the depth. ``province`` is denormalised so that the
    tables that grow with population can be filtered and later sharded by province without a join.
    """

    # 4 characters of base 36 per level: 1.6 million children per node, 63 levels.
    steplen = 4
    node_order_by = ["code"]

    code = models.CharField(
        _("official code"),
        max_length=32,
        unique=True,
        help_text=_("Statistics office code for provinces and communes; the province's own code for villages."),
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=AreaKind.choices)
    kind_label = models.CharField(
        _("local kind"),
        max_length=40,
        blank=True,
        help_text=_("The word the local list uses for a village kind not among the kinds above (e.g. phum)."),
    )
    province = models.ForeignKey(
        "self",
        verbose_name=_("province"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The province this area lies in (itself for a province)."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        indexes = [models.Index(fields=["kind", "path"])]
        constraints = [
            models.CheckConstraint(condition=~models.Q(code=""), name="area_code_not_empty"),
            models.CheckConstraint(condition=~models.Q(name=""), name="area_name_not_empty"),
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in AreaKind]), name="area_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_province(self) -> bool:
        return self.kind in PROVINCE_KINDS

    @property
    def is_commune(self) -> bool:
        return self.kind in COMMUNE_KINDS

    @property
    def is_village(self) -> bool:
        return self.kind in VILLAGE_KINDS

    @classmethod
    def ancestor_paths(cls, path: str) -> list[str]:
        """The paths of the area at ``path`` and of every area above it, the province first (no query)."""
        return [path[:end] for end in range(cls.steplen, len(path) + 1, cls.steplen)]
