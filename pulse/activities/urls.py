"""Web pages of activities: /activities/… (list, detail, reports, templates), the
timeline partials of record pages, /calendar/… (page, feeds, .ics) and CalDAV settings."""

from django.urls import path  # noqa: F401

from . import views  # noqa: F401

app_name = "activities"

urlpatterns = [
    # --- activities: list, detail, forms, complete, templates, reports (H1) ---
    # --- timeline (H2) ---
    # --- calendar and iCalendar (H3) ---
    # --- reminders (H4) ---
    # --- CalDAV (H5) ---
]
