"""Models, one module per subject."""

from .approvals import MonthApproval
from .areas import Area
from .assistance import AssistanceItem, AssistanceLog, TrainingAttendance, TrainingSession
from .audit import AuditEntry
from .capabilities import Adoption, Capability, CapabilityDerivation
from .follow_ups import FollowUpRule
from .indicators import (
    CommuneCount,
    Indicator,
    IndicatorPopulationBound,
    IndicatorValue,
    NationalTarget,
    Plan,
    PlanTarget,
    RetirementAge,
    RollupState,
    Target,
    VillageCount,
)
from .jobs import BackgroundJob, JobKind, JobStatus, SyncReceipt
from .people import ConsentRecord, Household, Resident
from .population import OfficialPopulation
from .subscriptions import ReportDelivery, ReportSubscription
from .teams import AreaRole, Membership, MemberTraining, Team
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
    "CapabilityDerivation",
    "CommuneCount",
    "ConsentRecord",
    "FollowUpRule",
    "Household",
    "Indicator",
    "IndicatorPopulationBound",
    "IndicatorValue",
    "JobKind",
    "JobStatus",
    "MemberTraining",
    "Membership",
    "MonthApproval",
    "NationalTarget",
    "OfficialPopulation",
    "Plan",
    "PlanTarget",
    "ReportDelivery",
    "ReportSubscription",
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
