"""Enumerations shared by models, services, API and imports."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AreaKind(models.TextChoices):
    PROVINCE = "province", _("Province")
    CITY = "city", _("Centrally-governed city")
    DISTRICT = "district", _("District")  # older plans still speak of districts
    COMMUNE = "commune", _("Commune")
    WARD = "ward", _("Ward")
    SPECIAL_ZONE = "special_zone", _("Special zone")
    THON = "thon", _("Thôn")
    BAN = "ban", _("Bản")
    LANG = "lang", _("Làng")
    BUON = "buon", _("Buôn")
    AP = "ap", _("Ấp")
    SOC = "soc", _("Sóc")
    XOM = "xom", _("Xóm")
    KHOM = "khom", _("Khóm")
    TO_DAN_PHO = "to_dan_pho", _("Residential group (tổ dân phố)")
    KHU_PHO = "khu_pho", _("Urban block (khu phố)")
    TIEU_KHU = "tieu_khu", _("Tiểu khu")
    PLEI = "plei", _("Plei")
    BON = "bon", _("Bon")
    KHOI_PHO = "khoi_pho", _("Khối phố")
    KHU_VUC = "khu_vuc", _("Khu vực")


class IndicatorLevel(models.TextChoices):
    """The lowest level of the area tree at which an indicator has a value (it has one above it too)."""

    VILLAGE = "village", _("Village")
    COMMUNE = "commune", _("Commune")
    PROVINCE = "province", _("Province")


PROVINCE_KINDS = frozenset({AreaKind.PROVINCE, AreaKind.CITY})
COMMUNE_KINDS = frozenset({AreaKind.COMMUNE, AreaKind.WARD, AreaKind.SPECIAL_ZONE})
VILLAGE_KINDS = frozenset(
    {
        AreaKind.THON,
        AreaKind.BAN,
        AreaKind.LANG,
        AreaKind.BUON,
        AreaKind.AP,
        AreaKind.SOC,
        AreaKind.XOM,
        AreaKind.KHOM,
        AreaKind.TO_DAN_PHO,
        AreaKind.KHU_PHO,
        AreaKind.TIEU_KHU,
        AreaKind.PLEI,
        AreaKind.BON,
        AreaKind.KHOI_PHO,
        AreaKind.KHU_VUC,
    }
)


class Sex(models.TextChoices):
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")


class EthnicGroup(models.TextChoices):
    """What counting knows of a resident's ethnicity (derived from the free text; never the text itself)."""

    KINH = "kinh", _("Kinh")
    MINORITY = "minority", _("Ethnic minority")
    UNKNOWN = "unknown", _("Not recorded")


class ResidentStatus(models.TextChoices):
    ACTIVE = "active", _("Living here")
    MOVED_OUT = "moved_out", _("Moved out")
    DECEASED = "deceased", _("Deceased")
    MERGED = "merged", _("Merged into another record (duplicate)")


class MembershipRole(models.TextChoices):
    LEADER = "leader", _("Leader")
    DEPUTY = "deputy", _("Deputy leader")
    MEMBER = "member", _("Member")


class Affiliation(models.TextChoices):
    VILLAGE_HEAD = "village_head", _("Village head")
    PARTY_CELL_SECRETARY = "party_cell_secretary", _("Party cell secretary")
    POLICE = "police", _("Police")
    YOUTH_UNION = "youth_union", _("Youth Union")
    WOMENS_UNION = "womens_union", _("Women's Union")
    FARMERS_UNION = "farmers_union", _("Farmers' Union")
    VETERANS = "veterans", _("Veterans' Association")
    FATHERLAND_FRONT = "fatherland_front", _("Fatherland Front")
    COMMUNE_OFFICIAL = "commune_official", _("Commune official")
    TEACHER = "teacher", _("Teacher")
    TELECOM_POST = "telecom_post", _("Telecom or post company staff")
    VOLUNTEER = "volunteer", _("Volunteer")
    OTHER = "other", _("Other")


class AreaRoleKind(models.TextChoices):
    COMMUNE_OFFICER = "commune_officer", _("Commune officer")
    PROVINCE_OFFICER = "province_officer", _("Province officer")
    VIEWER = "viewer", _("Viewer")


class CapabilitySubject(models.TextChoices):
    RESIDENT = "resident", _("Resident")
    HOUSEHOLD = "household", _("Household")


class AdoptionSource(models.TextChoices):
    ASSISTANCE = "assistance", _("Assistance log")
    TRAINING = "training", _("Training session")
    IMPORT = "import", _("Import")
    SURVEY = "survey", _("Survey")
    MANUAL = "manual", _("Entered by an officer")


class AssistanceChannel(models.TextChoices):
    HOME_VISIT = "home_visit", _("Home visit")
    PHONE = "phone", _("Phone call")
    GROUP_SESSION = "group_session", _("Group session")
    AT_OFFICE = "at_office", _("At the commune office")


class AssistanceOutcome(models.TextChoices):
    DONE = "done", _("Done")
    NOT_DONE = "not_done", _("Not done")


class NotDoneReason(models.TextChoices):
    NO_DEVICE = "no_device", _("No suitable device")
    DECLINED = "declined", _("Declined")
    NOT_ELIGIBLE = "not_eligible", _("Not eligible")
    MISSING_DOCUMENTS = "missing_documents", _("Missing documents")
    NO_SIGNAL = "no_signal", _("No signal or service down")
    ABSENT = "absent", _("Not at home")
    OTHER = "other", _("Other")


class PopulationKind(models.TextChoices):
    RESIDENTS = "residents", _("Residents (within the age bounds)")
    WORKING_AGE = "working_age", _("Working-age residents")
    HOUSEHOLDS = "households", _("Households")


class IndicatorKind(models.TextChoices):
    COMPUTED = "computed", _("Computed from household data")
    REPORTED = "reported", _("Reported by hand")


class IndicatorGroup(models.TextChoices):
    DIGITAL_SOCIETY = "digital_society", _("Digital society")
    DIGITAL_ECONOMY = "digital_economy", _("Digital economy")
    DIGITAL_INFRASTRUCTURE = "digital_infrastructure", _("Digital infrastructure")


class TargetComparison(models.TextChoices):
    AT_LEAST = "at_least", _("at least")
    MORE_THAN = "more_than", _("more than")


class PeriodKind(models.TextChoices):
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")
    YEAR = "year", _("Year")


class ConsentChannel(models.TextChoices):
    PAPER = "paper", _("Signed on paper")
    IN_PERSON = "in_person", _("Given in person to a team member")
    APP = "app", _("In the app")
    PHONE = "phone", _("By phone")


class ConsentPurpose(models.TextChoices):
    DIGITAL_ASSISTANCE = "digital_assistance", _("Digital assistance by the community team")
    STATISTICS = "statistics", _("Statistics for the provincial digital-society plan")
    CONTACT = "contact", _("Being contacted by the team")


class DerivationKind(models.TextChoices):
    """How a derivation rule (``CapabilityDerivation``) makes a subject hold its target capability."""

    ANY_MEMBER = "any_member", _("A household holds it when any current member holds the source")
    IMPLIES = "implies", _("Holding the source implies holding it")


class ApprovalStatus(models.TextChoices):
    """Where an area's month stands in its sign-off (``MonthApproval``)."""

    DRAFT = "draft", _("Not submitted")
    SUBMITTED = "submitted", _("Submitted")
    RETURNED = "returned", _("Returned")
    APPROVED = "approved", _("Approved")


class ReportFormat(models.TextChoices):
    """The file formats a report is sent in (``ReportSubscription``)."""

    XLSX = "xlsx", _("Excel (XLSX)")
    CSV = "csv", _("CSV")


class DeliveryStatus(models.TextChoices):
    """What became of one subscription's report of one period (``ReportDelivery``)."""

    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed (tried again)")
    SKIPPED = "skipped", _("Not sent")
