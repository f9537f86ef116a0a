"""Web pages of leads: /leads/…, lead settings, web forms (public ones under /f/)."""

from django.urls import path

from . import views

app_name = "leads"

urlpatterns = [
    # --- leads: list, kanban, detail, quick create, stages (A) ---
    path("leads/", views.LeadListView.as_view(), name="lead_list"),
    path("leads/board/", views.LeadBoardView.as_view(), name="lead_board"),
    path("leads/new/", views.LeadFormView.as_view(), name="lead_create"),
    path("leads/quick-new/", views.LeadQuickCreateView.as_view(), name="lead_quick_create"),
    path("leads/bulk/", views.LeadBulkView.as_view(), name="lead_bulk"),
    path("leads/<uuid:pk>/", views.LeadDetailView.as_view(), name="lead_detail"),
    path("leads/<uuid:pk>/edit/", views.LeadFormView.as_view(), name="lead_edit"),
    path("leads/<uuid:pk>/delete/", views.LeadDeleteView.as_view(), name="lead_delete"),
    path("leads/<uuid:pk>/move/", views.LeadMoveView.as_view(), name="lead_move"),
    path(
        "leads/<uuid:pk>/inline-edit/",
        views.LeadInlineEditView.as_view(),
        name="lead_inline_edit",
    ),
    path("leads/settings/", views.LeadSettingsView.as_view(), name="lead_settings"),
    path("leads/stages/new/", views.LeadStageFormView.as_view(), name="leadstage_create"),
    path("leads/stages/order/", views.LeadStageReorderView.as_view(), name="leadstage_reorder"),
    path("leads/stages/<uuid:pk>/edit/", views.LeadStageFormView.as_view(), name="leadstage_edit"),
    path(
        "leads/stages/<uuid:pk>/delete/",
        views.LeadStageDeleteView.as_view(),
        name="leadstage_delete",
    ),
    # --- web-to-lead forms (B) ---
    path("leads/forms/", views.WebFormListView.as_view(), name="webform_list"),
    path("leads/forms/new/", views.WebFormFormView.as_view(), name="webform_create"),
    path("leads/forms/<uuid:pk>/", views.WebFormDetailView.as_view(), name="webform_detail"),
    path("leads/forms/<uuid:pk>/edit/", views.WebFormFormView.as_view(), name="webform_edit"),
    path("leads/forms/<uuid:pk>/delete/", views.WebFormDeleteView.as_view(), name="webform_delete"),
    path("f/<str:key>/", views.WebFormPublicView.as_view(), name="webform_public"),
    path(
        "f/<str:key>/confirm/<str:token>/",
        views.WebFormConfirmView.as_view(),
        name="webform_confirm",
    ),
    # --- scoring (C) ---
    path("leads/scoring/", views.ScoringRuleListView.as_view(), name="scoringrule_list"),
    path("leads/scoring/new/", views.ScoringRuleCreateView.as_view(), name="scoringrule_create"),
    path(
        "leads/scoring/order/", views.ScoringRuleReorderView.as_view(), name="scoringrule_reorder"
    ),
    path(
        "leads/scoring/<uuid:pk>/edit/",
        views.ScoringRuleUpdateView.as_view(),
        name="scoringrule_edit",
    ),
    path(
        "leads/scoring/<uuid:pk>/delete/",
        views.ScoringRuleDeleteView.as_view(),
        name="scoringrule_delete",
    ),
    path("leads/scoring/model/", views.ScoringModelView.as_view(), name="scoring_model"),
    path(
        "leads/<uuid:pk>/probability/",
        views.LeadProbabilityView.as_view(),
        name="lead_probability",
    ),
    # --- routing, conversion, analytics (D) ---
    path("leads/routing/", views.AssignmentRuleListView.as_view(), name="assignmentrule_list"),
    path(
        "leads/routing/new/",
        views.AssignmentRuleCreateView.as_view(),
        name="assignmentrule_create",
    ),
    path(
        "leads/routing/order/",
        views.AssignmentRuleReorderView.as_view(),
        name="assignmentrule_reorder",
    ),
    path(
        "leads/routing/<uuid:pk>/edit/",
        views.AssignmentRuleUpdateView.as_view(),
        name="assignmentrule_edit",
    ),
    path(
        "leads/routing/<uuid:pk>/delete/",
        views.AssignmentRuleDeleteView.as_view(),
        name="assignmentrule_delete",
    ),
    path(
        "leads/routing/<uuid:pk>/toggle/",
        views.AssignmentRuleToggleView.as_view(),
        name="assignmentrule_toggle",
    ),
    path(
        "leads/routing/members/<uuid:pk>/availability/",
        views.MemberAvailabilityView.as_view(),
        name="member_availability",
    ),
    path("leads/analytics/", views.LeadAnalyticsView.as_view(), name="lead_analytics"),
    path("leads/<uuid:pk>/convert/", views.LeadConvertView.as_view(), name="lead_convert"),
    path("leads/<uuid:pk>/route/", views.LeadRouteView.as_view(), name="lead_route"),
]
