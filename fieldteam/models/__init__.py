"""Models, one module per subject."""

from .areas import Area
from .assistance import AssistanceItem, AssistanceLog, TrainingAttendance, TrainingSession
from .audit import AuditEntry
from .capabilities import Adoption, Capability
from .indicators import Indicator, IndicatorValue, Plan, PlanTarget, RetirementAge, RollupState, Target, VillageCount
from .jobs import BackgroundJob, JobKind, JobStatus, SyncReceipt
from .people import ConsentRecord, Household, Resident
from .teams import AreaRole, Membership, Team
from .users import User

__all__ = [
    "Adoption",
    "Area",
    "AreaRole",
    "AssistanceItem",
    "AssistanceLog",
    "AuditEntry",
    "BackgroundJob",
    "Capability",
    "ConsentRecord",
    "Household",
    "Indicator",
    "IndicatorValue",
    "JobKind",
    "JobStatus",
    "Membership",
    "Plan",
    "PlanTarget",
    "Resident",
    "RetirementAge",
    "RollupState",
    "SyncReceipt",
    "Target",
    "Team",
    "TrainingAttendance",
    "TrainingSession",
    "User",
    "VillageCount",
]
