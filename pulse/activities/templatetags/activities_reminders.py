"""Template tags of reminders and mentions: the user's overdue counts (the sidebar
badge) and mentions shown as highlighted names.

    {% load activities_reminders %}
    {% overdue_counts as counts %}{{ counts.overdue }} {{ counts.today }}
    {{ activity.description|mentions }}
"""

from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe

from pulse.activities.selectors import OverdueCounts
from pulse.activities.selectors import overdue_counts as _overdue_counts
from pulse.activities.services import MENTION_RE

register = template.Library()


@register.simple_tag(takes_context=True)
def overdue_counts(context) -> OverdueCounts:
    """The signed-in user's overdue and today's counts in the current organization
    (read once per request, however many parts of the page ask)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    org = getattr(request, "organization", None)
    if user is None or org is None or not user.is_authenticated:
        return OverdueCounts()
    return _overdue_counts(user, org)


@register.filter(is_safe=True)
def mentions(html: str) -> str:
    """Sanitized rich text with each ``@[Full Name](id)`` shown as a highlighted
    ``@Full Name``. The input must already be sanitized (the services do it on save);
    a name holds no ``<``, ``>`` or newline, so it cannot open a tag."""
    if not html:
        return ""

    def render(match) -> str:
        # Already HTML text (sanitized, no "<" or ">" in it): kept as it is, so an
        # entity such as "&amp;" is not escaped twice.
        name = match.group(1)
        return f'<span class="pulse-mention" data-user-id="{match.group(2)}">@{name}</span>'

    return mark_safe(MENTION_RE.sub(render, str(html)))  # noqa: S308 - sanitized input, see above
