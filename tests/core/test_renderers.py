"""The form renderer builds selects in Python; its markup must equal Django's templates'."""

from __future__ import annotations

from django import forms
from django.forms.renderers import DjangoTemplates
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.core.renderers import PulseFormRenderer

DJANGO = DjangoTemplates()
OURS = PulseFormRenderer()

text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=12)
choice = st.tuples(st.one_of(text, st.integers(), st.uuids()), text)
choices = st.lists(
    st.one_of(choice, st.tuples(text.filter(bool), st.lists(choice, max_size=4))), max_size=8
)


def _both(widget: forms.Widget, name: str, value, attrs=None) -> tuple[str, str]:
    return (
        widget.render(name, value, attrs=attrs, renderer=DJANGO),
        widget.render(name, value, attrs=attrs, renderer=OURS),
    )


@settings(max_examples=150, deadline=None)
@given(choices=choices, picked=st.lists(text, max_size=3), multiple=st.booleans(), name=text)
def test_select_markup_equals_djangos(choices, picked, multiple, name):
    widget_class = forms.SelectMultiple if multiple else forms.Select
    widget = widget_class(
        choices=choices, attrs={"class": "form-select", "data-x": '"<&>"', "disabled": False}
    )
    value = picked if multiple else (picked[0] if picked else None)

    django_html, our_html = _both(widget, name, value, attrs={"id": "id_f", "required": True})

    assert our_html == django_html


def test_common_selects_render_the_same():
    widgets = [
        forms.NullBooleanSelect(),
        forms.Select(choices=[("BG", "Bulgaria"), ("US", "United States")]),
        forms.SelectMultiple(choices=[(1, "One & only"), (2, "<Two>")]),
        forms.Select(choices=[("Europe", [("BG", "Bulgaria")]), ("", "—")]),
    ]
    for widget in widgets:
        django_html, our_html = _both(widget, "field", "BG")
        assert our_html == django_html, widget


def test_customised_option_templates_still_use_the_templates():
    class Custom(forms.Select):
        option_template_name = "django/forms/widgets/input_option.html"

    widget = Custom(choices=[("a", "A")])

    django_html, our_html = _both(widget, "field", "a")

    assert our_html == django_html
    assert "<option" not in our_html
