"""Django admin for every model, one module per subject; see ``base`` for scoping and permissions."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from . import areas, assistance, audit, capabilities, indicators, jobs, people, teams, users  # noqa: F401 - registration

admin.site.site_header = _("Community digital-technology teams")
admin.site.site_title = _("fieldteam administration")
admin.site.index_title = _("Administration")
# The stock index plus links to the dashboards of the officer's areas.
admin.site.index_template = "dashboards/admin_index.html"
