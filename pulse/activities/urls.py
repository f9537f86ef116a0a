"""Web pages of activities: /activities/… (list, detail, reports, templates), the
timeline partials of record pages, /calendar/… (page, feeds, .ics) and CalDAV settings."""

from django.urls import path

from . import views

app_name = "activities"

urlpatterns = [
    # --- activities: list, detail, forms, complete, templates, reports ---
    path("activities/", views.ActivityListView.as_view(), name="activity_list"),
    path("activities/new/", views.ActivityFormView.as_view(), name="activity_create"),
    path(
        "activities/quick-create/",
        views.ActivityQuickCreateView.as_view(),
        name="activity_quick_create",
    ),
    path("activities/bulk/", views.ActivityBulkView.as_view(), name="activity_bulk"),
    path("activities/reports/", views.ActivityReportView.as_view(), name="activity_report"),
    path("activities/options/leads/", views.LeadOptionsView.as_view(), name="lead_options"),
    path(
        "activities/options/opportunities/",
        views.OpportunityOptionsView.as_view(),
        name="opportunity_options",
    ),
    path("activities/<uuid:pk>/", views.ActivityDetailView.as_view(), name="activity_detail"),
    path("activities/<uuid:pk>/edit/", views.ActivityFormView.as_view(), name="activity_edit"),
    path(
        "activities/<uuid:pk>/delete/", views.ActivityDeleteView.as_view(), name="activity_delete"
    ),
    path(
        "activities/<uuid:pk>/inline/",
        views.ActivityInlineEditView.as_view(),
        name="activity_inline_edit",
    ),
    path(
        "activities/<uuid:pk>/complete/",
        views.ActivityCompleteView.as_view(),
        name="activity_complete",
    ),
    path(
        "activities/<uuid:pk>/cancel/", views.ActivityCancelView.as_view(), name="activity_cancel"
    ),
    path(
        "activities/<uuid:pk>/reopen/", views.ActivityReopenView.as_view(), name="activity_reopen"
    ),
    path(
        "activities/<uuid:pk>/checklist/",
        views.ChecklistItemAddView.as_view(),
        name="activity_checklist_add",
    ),
    path(
        "activities/<uuid:pk>/checklist/reorder/",
        views.ChecklistReorderView.as_view(),
        name="activity_checklist_reorder",
    ),
    path(
        "activities/checklist/<uuid:pk>/toggle/",
        views.ChecklistItemToggleView.as_view(),
        name="checklistitem_toggle",
    ),
    path(
        "activities/checklist/<uuid:pk>/delete/",
        views.ChecklistItemDeleteView.as_view(),
        name="checklistitem_delete",
    ),
    path(
        "settings/activity-templates/",
        views.ActivityTemplateListView.as_view(),
        name="activitytemplate_list",
    ),
    path(
        "settings/activity-templates/new/",
        views.ActivityTemplateFormView.as_view(),
        name="activitytemplate_create",
    ),
    path(
        "settings/activity-templates/<uuid:pk>/edit/",
        views.ActivityTemplateFormView.as_view(),
        name="activitytemplate_edit",
    ),
    path(
        "settings/activity-templates/<uuid:pk>/delete/",
        views.ActivityTemplateDeleteView.as_view(),
        name="activitytemplate_delete",
    ),
    # --- timeline ---
    path("timeline/export.csv", views.TimelineExportView.as_view(), name="timeline_export"),
    path("timeline/<str:record_type>/<uuid:pk>/", views.TimelineView.as_view(), name="timeline"),
    path(
        "timeline/<str:record_type>/<uuid:pk>/compose/",
        views.TimelineComposeView.as_view(),
        name="timeline_compose",
    ),
    path(
        "timeline/<str:record_type>/<uuid:pk>/complete/",
        views.TimelineCompleteView.as_view(),
        name="timeline_complete",
    ),
    # --- calendar and iCalendar ---
    path("calendar/", views.CalendarView.as_view(), name="calendar"),
    path("calendar/events/", views.CalendarEventsView.as_view(), name="calendar_events"),
    path("calendar/new/", views.CalendarCreateView.as_view(), name="calendar_create"),
    path("calendar/<uuid:pk>/move/", views.CalendarMoveView.as_view(), name="calendar_move"),
    path("calendar/feed/", views.CalendarFeedSettingsView.as_view(), name="calendar_feed_settings"),
    path("calendar/feed/new/", views.CalendarFeedCreateView.as_view(), name="calendar_feed_create"),
    path(
        "calendar/feed/<uuid:pk>/revoke/",
        views.CalendarFeedRevokeView.as_view(),
        name="calendar_feed_revoke",
    ),
    path(
        "calendar/feed/<str:token>.ics",
        views.CalendarFeedPublicView.as_view(),
        name="calendar_feed",
    ),
    path("activities/<uuid:pk>/invite.ics", views.ActivityIcsView.as_view(), name="activity_ics"),
    path(
        "activities/<uuid:pk>/attendees/", views.AttendeePanelView.as_view(), name="attendee_panel"
    ),
    path(
        "activities/<uuid:pk>/attendees/add/", views.AttendeeAddView.as_view(), name="attendee_add"
    ),
    path(
        "activities/attendees/<uuid:pk>/remove/",
        views.AttendeeRemoveView.as_view(),
        name="attendee_remove",
    ),
    path(
        "activities/attendees/<uuid:pk>/respond/",
        views.AttendeeRespondView.as_view(),
        name="attendee_respond",
    ),
    path("activities/<uuid:pk>/invite/", views.MeetingInviteView.as_view(), name="meeting_invite"),
    # --- reminders ---
    path(
        "activities/mentions/members/",
        views.MentionMemberSearchView.as_view(),
        name="mention_member_search",
    ),
    path("activities/overdue-badge/", views.OverdueBadgeView.as_view(), name="overdue_badge"),
    # --- CalDAV ---
    path("settings/calendar-sync/", views.CalDavConnectionListView.as_view(), name="caldav_list"),
    path(
        "settings/calendar-sync/new/",
        views.CalDavConnectionFormView.as_view(),
        name="caldav_create",
    ),
    path(
        "settings/calendar-sync/<uuid:pk>/edit/",
        views.CalDavConnectionFormView.as_view(),
        name="caldav_edit",
    ),
    path(
        "settings/calendar-sync/<uuid:pk>/delete/",
        views.CalDavConnectionDeleteView.as_view(),
        name="caldav_delete",
    ),
    path(
        "settings/calendar-sync/<uuid:pk>/test/",
        views.CalDavConnectionTestView.as_view(),
        name="caldav_test",
    ),
    path(
        "settings/calendar-sync/<uuid:pk>/sync/",
        views.CalDavConnectionSyncView.as_view(),
        name="caldav_sync",
    ),
    path("calendar/import/", views.IcsImportView.as_view(), name="ics_import"),
]
