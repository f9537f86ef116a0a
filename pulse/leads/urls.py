"""Web pages of leads: /leads/…, lead settings, web forms (public ones under /f/)."""

app_name = "leads"

urlpatterns = [
    # --- leads: list, kanban, detail, quick create, stages (A) ---
    # --- web-to-lead forms (B) ---
    # --- scoring (C) ---
    # --- routing, conversion, analytics (D) ---
]
