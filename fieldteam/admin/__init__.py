"""Django admin for every model, one module per subject; see ``base`` for scoping and permissions."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from . import (  # noqa: F401 - registration
    approvals,
    areas,
    assistance,
    audit,
    capabilities,
    counting,
    follow_ups,
    indicators,
    jobs,
    member_training,
    people,
    population,
    subscriptions,
    teams,
    users,
)
from .base import post_autocomplete, post_every_search
from .index import group_app_list

admin.site.site_header = _("Community digital-technology teams")
admin.site.site_title = _("fieldteam administration")
admin.site.index_title = _("Administration")
# The stock index plus links to the dashboards of the officer's areas.
admin.site.index_template = "dashboards/admin_index.html"
# Last app loaded: the admins of the other apps (groups, tokens, django-axes) get the posted search too.
post_every_search(admin.site)
# Autocompletes send what is typed by POST (admin/fieldteam/autocomplete-post.js on every page).
post_autocomplete(admin.site)
# Officers' tables in four sections; the system's internals for superusers only.
group_app_list(admin.site)
