"""Form widgets of the contact and company screens."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse


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
