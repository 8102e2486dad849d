"""django-import-export resources: the columns of every import and export file.

``RESOURCES`` names each resource by kind, as ``fieldteam.imports`` and
``fieldteam.exports`` and the admin refer to them.
"""

from .areas import VillageResource
from .assistance import AssistanceLogResource
from .base import CSV, FORMATS, XLSX, FieldteamResource
from .indicators import IndicatorValueResource, ReportedValueResource, TargetResource
from .people import HouseholdResource, ResidentResource
from .population import OfficialPopulationResource
from .teams import MemberResource, TeamResource

__all__ = [
    "CSV",
    "FORMATS",
    "XLSX",
    "AssistanceLogResource",
    "FieldteamResource",
    "HouseholdResource",
    "IndicatorValueResource",
    "MemberResource",
    "OfficialPopulationResource",
    "ReportedValueResource",
    "ResidentResource",
    "TargetResource",
    "TeamResource",
    "VillageResource",
]
