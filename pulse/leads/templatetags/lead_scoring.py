"""Template tags of lead scoring: what the score panel needs beside the lead itself."""

from __future__ import annotations

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def lead_scoring(context, lead) -> dict:
    """Band, rule factors, prediction factors for and against, the model's status and
    whether the viewer may override the probability (two queries at most)."""
    from pulse.accounts.permissions import can
    from pulse.leads.models import Lead
    from pulse.leads.scoring import latest_model, predictive_status
    from pulse.leads.services import lead_settings

    request = context.get("request")
    org = getattr(request, "organization", None) or lead.organization
    settings = context.get("lead_settings") or lead_settings(org=org)
    status = predictive_status(latest_model(org))
    factors = lead.prediction_factors or []
    return {
        "band": getattr(lead, "band", None) or settings.band(lead.score or 0),
        "settings": settings,
        "model_ready": status["ready"],
        "model_message": status["message"],
        "factors_for": [f for f in factors if f["points"] > 0],
        "factors_against": [f for f in factors if f["points"] < 0],
        "predicted_percent": (
            round(lead.predicted_probability * 100)
            if lead.predicted_probability is not None
            else None
        ),
        "can_override": request is not None and can(request.user, "edit", Lead),
    }
