"""The list pages' owner pickers render their options in Python (``ManyOptionsSelectMultiple``,
``options_html``): the markup must be what Django's own widget templates write, escaping
included, so nothing in the filter bar or the bulk bar changes but the time it takes."""

from __future__ import annotations

import re

from django import forms

from pulse.contacts.widgets import ManyOptionsSelectMultiple, options_html

CHOICES = [
    ("me", "Me"),
    ("7", 'Zoë "Z" <b>Ó</b>'),
    ("Team", [("12", "Ann & Bo"), ("13", "Cy")]),
]


def _squeeze(html: str) -> str:
    return re.sub(r">\s+<", "><", str(html)).strip()


def test_many_options_select_writes_what_django_templates_write():
    attrs = {"class": "form-select", "data-tom-select": "", "id": "id_assigned_to"}
    ours = ManyOptionsSelectMultiple(attrs=attrs, choices=CHOICES)
    django = forms.SelectMultiple(attrs=attrs, choices=CHOICES)
    for value in ([], ["7", "13"], ["me"]):
        assert _squeeze(ours.render("assigned_to", value)) == _squeeze(
            django.render("assigned_to", value)
        )
    html = ours.render("assigned_to", ["7"])
    assert "<b>" not in html and "&lt;b&gt;" in html  # a name is text, never markup
    assert '<option value="7" selected>' in html


def test_options_html_escapes_and_marks_the_chosen():
    html = options_html([(1, "Ann & Bo"), (2, "<script>x</script>")], selected=[2])
    assert html == (
        '<option value="1">Ann &amp; Bo</option>'
        '<option value="2" selected>&lt;script&gt;x&lt;/script&gt;</option>'
    )
