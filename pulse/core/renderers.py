"""The form renderer: Django's, with ``<select>`` widgets built in Python.

Django renders a select through one template include per option (and another per
option's attributes). A list page's filter bar holds a country select of 250 options
and a few more, which cost ~20 ms of template work per request — more than the page's
queries. ``PulseFormRenderer`` produces the same markup as Django's
``django/forms/widgets/select.html`` directly from the widget context; every other
widget, and any select whose template or option template was customised, still goes
through the templates. ``tests/core/test_renderers.py`` checks the output equals
Django's for generated choices.
"""

from __future__ import annotations

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

SELECT_TEMPLATE = "django/forms/widgets/select.html"
OPTION_TEMPLATE = "django/forms/widgets/select_option.html"


def render_attrs(attrs: dict) -> str:
    """``django/forms/widgets/attrs.html`` in Python: True → bare name, False → left out."""
    parts = []
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            parts.append(f" {conditional_escape(name)}")
        else:
            parts.append(f' {conditional_escape(name)}="{conditional_escape(str(value))}"')
    return "".join(parts)


def render_select(widget: dict) -> str:
    """``django/forms/widgets/select.html`` (with its option template) in Python.

    The whitespace is the templates' own (each option include ends in a newline), so the
    markup is byte-for-byte Django's.
    """
    out = [f'<select name="{conditional_escape(widget["name"])}"{render_attrs(widget["attrs"])}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            out.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
        for option in group_choices:
            out.append(
                f'\n  <option value="{conditional_escape(str(option["value"]))}"'
                f"{render_attrs(option['attrs'])}>{conditional_escape(option['label'])}</option>\n"
            )
        if group_name:
            out.append("\n  </optgroup>")
    out.append("\n</select>")
    return "".join(out)


def _is_plain_select(template_name: str, context: dict) -> bool:
    widget = context.get("widget")
    if template_name != SELECT_TEMPLATE or not isinstance(widget, dict):
        return False
    return all(
        option.get("template_name") == OPTION_TEMPLATE
        for _name, options, _index in widget.get("optgroups", ())
        for option in options
    )


class PulseFormRenderer(DjangoTemplates):
    """Django's default form renderer, except plain selects are built in Python."""

    def render(self, template_name, context, request=None):
        if _is_plain_select(template_name, context):
            return mark_safe(render_select(context["widget"]))  # noqa: S308 (escaped above)
        return super().render(template_name, context, request=request)


__all__ = ["PulseFormRenderer", "render_attrs", "render_select"]
