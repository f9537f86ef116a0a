"""The segment form. It never saves: the view passes its data to the services."""

from __future__ import annotations

from django import forms

from pulse.contacts.forms import RecordForm

from .models import Segment

# The embedded contact filter form's field names carry this prefix (``f-country``), so
# they cannot clash with the segment's own ``tags`` and ``assigned_to``.
FILTER_PREFIX = "f"


class SegmentForm(RecordForm):
    """Name, kind, description, owner and tags; the filters come from the filter form."""

    class Meta:
        model = Segment
        fields = ["name", "kind", "description", "assigned_to", "tags"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "tags": forms.SelectMultiple(attrs={"data-tom-select": ""}),
            "kind": forms.RadioSelect,
        }

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        self.fields["kind"].widget.attrs["class"] = "form-check-input"
        if not self.instance._state.adding:
            # The kind is fixed once created (segment_update refuses a change).
            self.fields["kind"].disabled = True
            self._errors = None  # RecordForm validated already (for its CSS); again, please


def filters_from_post(data) -> dict[str, list[str]]:
    """The filter form's values in ``data`` without the prefix: ``{"country": ["BG"]}``."""
    start = f"{FILTER_PREFIX}-"
    return {
        key[len(start) :]: data.getlist(key)
        for key in data
        if key.startswith(start) and any(v for v in data.getlist(key))
    }
