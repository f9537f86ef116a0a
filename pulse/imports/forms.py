"""Forms of the import screens: upload, read options, column mapping. They never save."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from . import parsers
from .models import ImportJob
from .services import max_upload_size
from .targets import target_choices

AUTO = ""
HEADER_CHOICES = (("", _("Detect")), ("yes", _("Yes")), ("no", _("No")))


def encoding_choices():
    return [(AUTO, _("Detect")), *parsers.ENCODING_LABELS.items()]


def delimiter_choices():
    return [(AUTO, _("Detect")), *((k, v) for k, v in parsers.DELIMITERS.items())]


def header_value(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


class UploadForm(forms.Form):
    """Step 1: what to import, the file, and how to read it (detected unless chosen)."""

    target = forms.ChoiceField(label=_("Import into"))
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "CSV (any delimiter; UTF-8, Windows-1252 or Latin-1), Excel .xlsx or vCard .vcf."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,.xlsx,.vcf,.vcard"}),
    )
    mode = forms.ChoiceField(
        label=_("Rows that match existing records"),
        choices=ImportJob.Mode.choices,
        initial=ImportJob.Mode.SKIP,
        widget=forms.RadioSelect,
    )
    encoding = forms.ChoiceField(label=_("Encoding"), choices=encoding_choices, required=False)
    delimiter = forms.ChoiceField(label=_("Delimiter"), choices=delimiter_choices, required=False)
    has_header = forms.ChoiceField(
        label=_("The first row holds column names"), choices=HEADER_CHOICES, required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = target_choices()
        limit = max_upload_size() // (1024 * 1024)
        self.fields["file"].help_text = _(
            "CSV (any delimiter; UTF-8, Windows-1252 or Latin-1), Excel .xlsx or vCard .vcf; "
            "up to %(limit)d MB."
        ) % {"limit": limit}
        for name in ("target", "encoding", "delimiter", "has_header"):
            self.fields[name].widget.attrs.setdefault("class", "form-select")
        self.fields["file"].widget.attrs.setdefault("class", "form-control")


class OptionsForm(forms.Form):
    """Read the file again with another encoding, delimiter or header choice."""

    encoding = forms.ChoiceField(label=_("Encoding"), choices=encoding_choices, required=False)
    delimiter = forms.ChoiceField(label=_("Delimiter"), choices=delimiter_choices, required=False)
    has_header = forms.ChoiceField(
        label=_("The first row holds column names"), choices=HEADER_CHOICES, required=False
    )

    def __init__(self, *args, job: ImportJob | None = None, **kwargs):
        if job is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "encoding": job.encoding,
                "delimiter": job.delimiter,
                "has_header": "yes" if job.has_header else "no",
            }
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "form-select form-select-sm")


class MappingForm(forms.Form):
    """Step 2: a field for each column (``col_<index>``), the mode and the match key."""

    mode = forms.ChoiceField(
        label=_("Rows that match existing records"),
        choices=ImportJob.Mode.choices,
        widget=forms.RadioSelect,
    )
    match_by = forms.ChoiceField(label=_("Match existing records by"), required=False)
    remember = forms.BooleanField(
        label=_("Remember this mapping for files with the same columns"),
        required=False,
        initial=True,
    )

    def __init__(self, *args, job: ImportJob, target, **kwargs):
        initial = {
            "mode": job.mode,
            "match_by": job.match_by,
            "remember": True,
            **{f"col_{i}": job.mapping.get(str(i), "") for i in range(len(job.headers))},
        }
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        self.job = job
        groups: dict[str, list] = {}
        for f in target.fields():
            groups.setdefault(str(f.group or _("Fields")), []).append((f.key, str(f.label)))
        choices = [("", _("— Don't import —")), *groups.items()]
        for index, header in enumerate(job.headers):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header,
                choices=choices,
                required=False,
                widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
            )
        self.fields["match_by"].choices = target.match_options()
        self.fields["match_by"].widget.attrs["class"] = "form-select"

    def column_fields(self):
        return [self[f"col_{i}"] for i in range(len(self.job.headers))]

    def mapping(self) -> dict[str, str]:
        return {
            str(i): self.cleaned_data.get(f"col_{i}") or ""
            for i in range(len(self.job.headers))
            if self.cleaned_data.get(f"col_{i}")
        }
