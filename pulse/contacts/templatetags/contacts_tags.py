"""Template filters of the contact and company pages."""

from __future__ import annotations

from django import template

from pulse.contacts.phones import format_phone

register = template.Library()


@register.filter
def phone(value: str, region: str = "") -> str:
    """A stored E.164 number as people write it: ``{{ contact.phone|phone:current_org.country }}``
    → ``02 123 4567`` for a number of that country, ``+44 20 7946 0958`` for another."""
    return format_phone(value or "", region or "")


@register.filter
def tel_uri(value: str) -> str:
    """``tel:`` link target for a stored number (RFC 3966: ``+35921234567;ext=12``)."""
    return f"tel:{value}" if value else ""
