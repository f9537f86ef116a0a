"""Template tags other apps' pages use to offer segments."""

from django import template

from pulse.accounts.permissions import can

from ..models import NON_FILTER_KEYS, Segment

register = template.Library()


@register.inclusion_tag("segments/partials/from_filter_link.html", takes_context=True)
def segment_from_filter_link(context):
    """ "Save as segment" on the contact list: the current filters become a dynamic segment.

    Renders nothing for people who may not create segments.
    """
    request = context["request"]
    if not can(request.user, "create", Segment):
        return {"hidden": True}
    query = request.GET.copy()
    for key in NON_FILTER_KEYS:
        query.pop(key, None)
    return {"querystring": query.urlencode(), "hidden": False}
