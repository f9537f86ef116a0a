"""Form widgets of the contact and company screens."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.forms.utils import flatatt
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def options_html(choices, selected=()) -> SafeString:
    """``<option>`` tags for ``(value, label)`` pairs, written in Python: hundreds of
    options (the members of a large organization) cost a millisecond, where a template
    loop or Django's per-option widget include cost tens."""
    chosen = {str(value) for value in selected}
    return mark_safe(  # noqa: S308 (every value and label is escaped)
        "".join(
            f'<option value="{escape(value)}"{" selected" if str(value) in chosen else ""}>'
            f"{escape(label)}</option>"
            for value, label in choices
        )
    )


class ManyOptionsSelectMultiple(forms.SelectMultiple):
    """A multiple ``<select>`` rendered in Python: the same markup as Django's templates,
    without one template include per option. For choices that run into the hundreds
    (owners: 858 members took ~20 ms per list page through the widget templates)."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [f'<select name="{escape(widget["name"])}"{flatatt(widget["attrs"])}>']
        for group, options, _index in widget["optgroups"]:
            if group:
                parts.append(f'<optgroup label="{escape(group)}">')
            parts.extend(
                f'<option value="{escape(option["value"])}"{flatatt(option["attrs"])}>'
                f"{escape(option['label'])}</option>"
                for option in options
            )
            if group:
                parts.append("</optgroup>")
        parts.append("</select>")
        return mark_safe("".join(parts))  # noqa: S308 (escaped above)


class RemoteSelect(forms.Select):
    """A select whose options are searched on the server as the user types (tom-select).

    Only the chosen option is rendered, so a form or filter bar costs one small
    query however many companies an organization has; the choices come from
    ``url_name`` (JSON ``[{"value": …, "text": …}]``).
    """

    def __init__(self, *, url_name: str, attrs=None):
        self.url_name = url_name
        super().__init__(attrs={"class": "form-select", **(attrs or {})})

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"]["data-remote-url"] = reverse(self.url_name)
        return context

    def optgroups(self, name, value, attrs=None):
        chosen = [v for v in value if v not in (None, "")]
        options = [self.create_option(name, "", "—", not chosen, 0)]
        queryset = getattr(self.choices, "queryset", None)
        if chosen and queryset is not None:
            try:
                rows = list(queryset.filter(pk__in=chosen))
            except (ValidationError, ValueError):
                rows = []  # a malformed id in the query string shows as "nothing chosen"
            for index, row in enumerate(rows, start=1):
                options.append(self.create_option(name, str(row.pk), str(row), True, index))
        return [(None, options, 0)]
