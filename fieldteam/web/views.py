"""The mobile pages. They only read (through ``fieldteam.selectors.web``, scoped to the user).

Every write — logs, households, residents, training sessions — is made by the page's JavaScript
through the offline batch sync endpoint (``POST /api/v1/sync/``), online or offline alike, so
there is one path for a log whether the phone had signal or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_safe

from fieldteam.choices import AssistanceChannel, CapabilitySubject, NotDoneReason, Sex
from fieldteam.http import SignedInRequest
from fieldteam.models import Area, Capability, User
from fieldteam.periods import today
from fieldteam.selectors import web as selectors
from fieldteam.selectors.follow_ups import FollowUp, follow_ups
from fieldteam.selectors.homes import FIELD_APP, homes_for
from fieldteam.selectors.notices import notices_for
from fieldteam.selectors.work_list import WorkListEntry, WorkListSection, work_list
from fieldteam.services.consent import CURRENT_NOTICE_VERSION, NOTICES
from fieldteam.web.common import asset_url, render_page, vietnamese_by_default, web_page

TRAINING_CAPABILITY = "basic_digital_skills"
HISTORY_PAGE_SIZE = 30
WORK_PAGE_SIZE = 100


def _form_choices() -> dict[str, object]:
    return {
        "reasons": NotDoneReason.choices,
        "channels": AssistanceChannel.choices,
        "default_channel": AssistanceChannel.HOME_VISIT,
    }


@method_decorator(vietnamese_by_default, name="dispatch")
class LoginView(auth_views.LoginView):
    """Django's login with the mobile template (django-axes locks out repeated failures)."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        # Where the person starts (``selectors.homes``): the field app, or their area's dashboards.
        return reverse(homes_for(user=cast(User, self.request.user)).start)  # signed in by now

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "login_css": asset_url("web/app.css")}


@method_decorator(vietnamese_by_default, name="dispatch")
class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("web:login")  # type: ignore[assignment]  # Django resolves lazy URLs; the stubs want str


HOME_WORK_ENTRIES = 5


@dataclass
class WorkGroup:
    """A work list section as a page shows it: the first few people, and how many in all."""

    section: WorkListSection
    entries: list[WorkListEntry]
    count: int

    @property
    def target(self) -> Decimal | None:
        reading = self.section.reading
        return reading.target.value if reading is not None and reading.target is not None else None


def _work_groups(
    user: User, village: Area, *, capability: Capability | None = None, limit: int | None = None
) -> list[WorkGroup]:
    sections = work_list(user=user, village=village, capability=capability)
    return [WorkGroup(s, s.entries[:limit] if limit else s.entries, len(s.entries)) for s in sections if s.entries]


@require_safe
@web_page
def home(request: SignedInRequest) -> HttpResponse:
    """My village(s), my work today and this month, and the work list (closest to a target first).

    Staff without a team start at their area's dashboards (``selectors.homes``), not here.
    """
    homes = homes_for(user=request.user)
    if homes.start != FIELD_APP:
        return redirect(homes.start)
    places = selectors.member_villages(user=request.user)
    # Issue 17: the open follow-ups of all the member's villages in one read, soonest due first; the
    # list shows the overdue and those due within the week, and counts the later ones.
    day = today()
    due: dict[int, list[FollowUp]] = {}
    later: dict[int, int] = {}
    for item in follow_ups(user=request.user, villages=[place.village for place in places]):
        if item.is_due(day):
            due.setdefault(item.village_id, []).append(item)
        else:
            later[item.village_id] = later.get(item.village_id, 0) + 1
    villages = [
        {
            "progress": selectors.village_progress(user=request.user, place=place),
            "follow_ups": due.get(place.village.pk, []),
            "later_follow_ups": later.get(place.village.pk, 0),
            "work": _work_groups(request.user, place.village, limit=HOME_WORK_ENTRIES),
        }
        for place in places
    ]
    return render_page(
        request,
        "web/home.html",
        {
            "villages": villages,
            "work": selectors.my_work(user=request.user),
            "page": "home",
            "today": day,
            "other_homes": homes.others,
            # Issue 17: overdue follow-ups (a leader: also per member) and a returned month, on top.
            "notices": notices_for(user=request.user),
        },
    )


@require_safe
@web_page
def work(request: SignedInRequest, village_id: int, capability: str) -> HttpResponse:
    """Everyone in one of the member's villages still lacking one capability."""
    place = selectors.visible_village(user=request.user, village_id=village_id)
    cap = get_object_or_404(Capability, code=capability, is_active=True)
    groups = _work_groups(request.user, place.village, capability=cap)
    group = groups[0] if groups else None
    page = Paginator(group.entries if group else [], WORK_PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(
        request,
        "web/work.html",
        {"place": place, "capability": cap, "group": group, "people": page, "page": "work"},
    )


@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_post_parameters("q")  # the query may be a CCCD or phone: never in an error report
@web_page
@sensitive_variables("query")
def search(request: SignedInRequest) -> HttpResponse:
    """Residents by name or household; by phone or CCCD only through a POST (never in a URL)."""
    query = request.POST.get("q", "") if request.method == "POST" else request.GET.get("q", "")
    if request.method == "GET" and selectors.looks_like_identifier(query):
        query = ""  # an identifier that reached a URL is not searched (nor echoed back)
    raw_village = (request.POST if request.method == "POST" else request.GET).get("village", "")
    village_id = int(raw_village) if raw_village.isdigit() else None  # a filter: anything else is no filter
    results = selectors.search_residents(user=request.user, query=query, village_id=village_id) if query else []
    # A number searched for is not written back into the page (nor into a cached copy of it).
    shown = "" if selectors.looks_like_identifier(query) else query
    return render_page(
        request,
        "web/search.html",
        {
            "query": shown,
            "results": results,
            "searched": bool(query),
            "places": selectors.member_villages(user=request.user),
            "village_id": village_id,
            "page": "search",
        },
    )


@require_safe
@web_page
def resident(request: SignedInRequest, resident_id: int) -> HttpResponse:
    data = selectors.resident_page(user=request.user, resident_id=resident_id)
    return render_page(request, "web/resident.html", {"r": data, "page": "resident", **_form_choices()})


@require_safe
@web_page
def household(request: SignedInRequest, household_id: int) -> HttpResponse:
    data = selectors.household_page(user=request.user, household_id=household_id)
    return render_page(request, "web/household.html", {"h": data, "page": "household", **_form_choices()})


def _shell_capabilities(request: SignedInRequest, subject: str) -> list[selectors.HeldCapability]:
    places = selectors.member_villages(user=request.user)
    province_id = places[0].village.province_id if places else None
    return [selectors.HeldCapability(c, None) for c in selectors.capabilities_for(subject, province_id)]


@require_safe
@web_page
def resident_shell(request: SignedInRequest) -> HttpResponse:
    """The resident page without a resident: filled in by JavaScript from the roster when offline."""
    return render_page(
        request,
        "web/resident.html",
        {
            "shell": True,
            "capabilities": _shell_capabilities(request, CapabilitySubject.RESIDENT),
            "page": "resident",
            **_form_choices(),
        },
    )


@require_safe
@web_page
def household_shell(request: SignedInRequest) -> HttpResponse:
    return render_page(
        request,
        "web/household.html",
        {
            "shell": True,
            "capabilities": _shell_capabilities(request, CapabilitySubject.HOUSEHOLD),
            "page": "household",
            **_form_choices(),
        },
    )


@require_safe
@web_page
def register(request: SignedInRequest) -> HttpResponse:
    """Register a household with its people (or, with ``?household=``, add people to one)."""
    existing = None
    if request.GET.get("household"):
        try:
            household_id = int(request.GET["household"])
        except ValueError as exc:
            raise Http404 from exc
        existing = selectors.household_page(user=request.user, household_id=household_id).household
    return render_page(
        request,
        "web/register.html",
        {
            "places": selectors.member_villages(user=request.user),
            "existing": existing,
            "sexes": Sex.choices,
            "this_year": today().year,
            "notice": NOTICES[CURRENT_NOTICE_VERSION],
            "notice_version": CURRENT_NOTICE_VERSION,
            "page": "register",
        },
    )


@require_safe
@web_page
def training(request: SignedInRequest) -> HttpResponse:
    """Record a training session and tick its attendees (from the offline roster)."""
    places = selectors.member_villages(user=request.user)
    province_id = places[0].village.province_id if places else None
    capabilities = selectors.capabilities_for(CapabilitySubject.RESIDENT, province_id)
    return render_page(
        request,
        "web/training.html",
        {
            "places": places,
            "capabilities": capabilities,
            "populations": selectors.training_populations(capabilities=list(capabilities), province_id=province_id),
            "default_capability": TRAINING_CAPABILITY,
            "page": "training",
        },
    )


@require_safe
@web_page
def history(request: SignedInRequest) -> HttpResponse:
    """My history: the logs I made and the sessions I taught (plus, by JavaScript, what waits to be sent)."""
    logs = Paginator(selectors.my_logs(user=request.user), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(
        request,
        "web/history.html",
        {
            "logs": logs,
            "sessions": selectors.my_training_sessions(user=request.user) if logs.number == 1 else [],
            "page": "history",
        },
    )


@require_safe
@web_page
def outbox(request: SignedInRequest) -> HttpResponse:
    """What is saved on this phone and waiting to be sent, or was rejected (drawn by JavaScript)."""
    return render_page(request, "web/outbox.html", {"page": "outbox"})


@require_safe
@web_page
def offline(request: SignedInRequest) -> HttpResponse:
    """Shown by the service worker for a page that is not on the phone while there is no connection."""
    return render_page(request, "web/offline.html", {"page": "offline"})
