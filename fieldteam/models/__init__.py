"""Models, one module per subject."""

from .areas import Area
from .assistance import AssistanceItem, AssistanceLog, TrainingAttendance, TrainingSession
from .capabilities import Adoption, Capability
from .indicators import Indicator, IndicatorValue, RetirementAge, RollupState, Target, VillageCount
from .people import ConsentRecord, Household, Resident
from .teams import AreaRole, Membership, Team
from .users import User

__all__ = [
    "Adoption",
    "Area",
    "AreaRole",
    "AssistanceItem",
    "AssistanceLog",
    "Capability",
    "ConsentRecord",
    "Household",
    "Indicator",
    "IndicatorValue",
    "Membership",
    "Resident",
    "RetirementAge",
    "RollupState",
    "Target",
    "Team",
    "TrainingAttendance",
    "TrainingSession",
    "User",
    "VillageCount",
]
