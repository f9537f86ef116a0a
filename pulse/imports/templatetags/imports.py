"""``{% import_export_buttons target %}``: the Import and Export buttons of a list page."""

from __future__ import annotations

from django import template
from django.urls import reverse

register = template.Library()


# Record types a vCard describes (people and organizations).
VCARD_TARGETS = frozenset({"contacts", "companies", "leads"})


@register.inclusion_tag("imports/partials/list_buttons.html", takes_context=True)
def import_export_buttons(context, target: str):
    """Export the list as it is filtered (and with its columns); import into it."""
    from pulse.accounts.permissions import can

    from ..export import export_targets
    from ..targets import get_target

    request = context.get("request")
    spec = export_targets().get(target or "")
    if request is None or spec is None:
        return {"show": False}
    user = request.user
    query = request.GET.copy()
    for name in ("page", "page_size", "format", "id"):
        query.pop(name, None)
    table = getattr(context.get("view"), "table", None)
    if "columns" not in query and table is not None and getattr(table, "param", ""):
        query["columns"] = table.param
    base = reverse("imports:export", args=[target])
    links = []
    for fmt, label, icon in (
        ("csv", "CSV", "bi-filetype-csv"),
        ("xlsx", "Excel (XLSX)", "bi-file-earmark-spreadsheet"),
        ("vcf", "vCard", "bi-person-vcard"),
    ):
        if fmt == "vcf" and target not in VCARD_TARGETS:
            continue
        query["format"] = fmt
        links.append((f"{base}?{query.urlencode()}", label, icon, fmt))
    return {
        "show": True,
        "target": target,
        "can_export": can(user, "export", spec.model),
        # Only where an import target exists (deals are exported, not imported, yet).
        "can_import": get_target(target) is not None and can(user, "import", spec.model),
        "links": links,
        "import_url": f"{reverse('imports:import_create')}?target={target}",
    }
