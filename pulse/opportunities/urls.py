"""Web pages of opportunities: /opportunities/… (board, list, detail, forecast, settings)."""

from django.urls import path  # noqa: F401

from . import views  # noqa: F401

app_name = "opportunities"

urlpatterns = [
    # --- opportunities: list, board, detail, quick create, line items, roles (A) ---
    path("opportunities/", views.OpportunityListView.as_view(), name="opportunity_list"),
    path("opportunities/new/", views.OpportunityFormView.as_view(), name="opportunity_create"),
    path(
        "opportunities/quick-new/",
        views.OpportunityQuickCreateView.as_view(),
        name="opportunity_quick_create",
    ),
    path("opportunities/bulk/", views.OpportunityBulkView.as_view(), name="opportunity_bulk"),
    path(
        "opportunities/<uuid:pk>/", views.OpportunityDetailView.as_view(), name="opportunity_detail"
    ),
    path(
        "opportunities/<uuid:pk>/edit/",
        views.OpportunityFormView.as_view(),
        name="opportunity_edit",
    ),
    path(
        "opportunities/<uuid:pk>/delete/",
        views.OpportunityDeleteView.as_view(),
        name="opportunity_delete",
    ),
    path(
        "opportunities/<uuid:pk>/inline-edit/",
        views.OpportunityInlineEditView.as_view(),
        name="opportunity_inline_edit",
    ),
    path(
        "opportunities/<uuid:pk>/line-items/",
        views.OpportunityLineItemsView.as_view(),
        name="opportunity_line_items",
    ),
    path(
        "opportunities/<uuid:pk>/contacts/",
        views.OpportunityContactRoleView.as_view(),
        name="opportunity_contact_add",
    ),
    path(
        "opportunities/<uuid:pk>/contacts/<uuid:opportunitycontact_pk>/remove/",
        views.OpportunityContactRoleDeleteView.as_view(),
        name="opportunity_contact_remove",
    ),
    # --- pipelines, stages, loss reasons, quotas (B) ---
    path("opportunities/settings/", views.PipelineListView.as_view(), name="pipeline_list"),
    path("opportunities/pipelines/new/", views.PipelineFormView.as_view(), name="pipeline_create"),
    path(
        "opportunities/pipelines/order/",
        views.PipelineReorderView.as_view(),
        name="pipeline_reorder",
    ),
    path(
        "opportunities/pipelines/<uuid:pk>/edit/",
        views.PipelineFormView.as_view(),
        name="pipeline_edit",
    ),
    path(
        "opportunities/pipelines/<uuid:pk>/delete/",
        views.PipelineDeleteView.as_view(),
        name="pipeline_delete",
    ),
    path(
        "opportunities/pipelines/<uuid:pk>/stages/order/",
        views.StageReorderView.as_view(),
        name="stage_reorder",
    ),
    path("opportunities/stages/new/", views.StageFormView.as_view(), name="stage_create"),
    path("opportunities/stages/<uuid:pk>/edit/", views.StageFormView.as_view(), name="stage_edit"),
    path(
        "opportunities/stages/<uuid:pk>/delete/",
        views.StageDeleteView.as_view(),
        name="stage_delete",
    ),
    path(
        "opportunities/loss-reasons/new/",
        views.LossReasonFormView.as_view(),
        name="lossreason_create",
    ),
    path(
        "opportunities/loss-reasons/order/",
        views.LossReasonReorderView.as_view(),
        name="lossreason_reorder",
    ),
    path(
        "opportunities/loss-reasons/<uuid:pk>/edit/",
        views.LossReasonFormView.as_view(),
        name="lossreason_edit",
    ),
    path(
        "opportunities/loss-reasons/<uuid:pk>/delete/",
        views.LossReasonDeleteView.as_view(),
        name="lossreason_delete",
    ),
    path("opportunities/quotas/", views.QuotaListView.as_view(), name="quota_list"),
    path("opportunities/quotas/new/", views.QuotaFormView.as_view(), name="quota_create"),
    path("opportunities/quotas/set/", views.QuotaSetView.as_view(), name="quota_set"),
    path("opportunities/quotas/<uuid:pk>/edit/", views.QuotaFormView.as_view(), name="quota_edit"),
    path(
        "opportunities/quotas/<uuid:pk>/delete/",
        views.QuotaDeleteView.as_view(),
        name="quota_delete",
    ),
    # --- forecast (C) ---
    path("opportunities/forecast/", views.ForecastView.as_view(), name="forecast"),
    path(
        "opportunities/forecast/deals/",
        views.ForecastDealsView.as_view(),
        name="forecast_deals",
    ),
    path(
        "opportunities/<uuid:pk>/forecast-category/",
        views.ForecastCategoryView.as_view(),
        name="opportunity_forecast_category",
    ),
    # --- win/loss and stage analysis (D) ---
    path("opportunities/analysis/", views.OpportunityAnalysisView.as_view(), name="analysis"),
    path(
        "opportunities/of-contact/<uuid:pk>/",
        views.ContactOpportunitiesView.as_view(),
        name="contact_opportunities",
    ),
    path(
        "opportunities/of-company/<uuid:pk>/",
        views.CompanyOpportunitiesView.as_view(),
        name="company_opportunities",
    ),
    # --- board and stage moves (K) ---
    path("opportunities/board/", views.OpportunityBoardView.as_view(), name="opportunity_board"),
    path(
        "opportunities/<uuid:pk>/move/",
        views.OpportunityMoveView.as_view(),
        name="opportunity_move",
    ),
]
