"""Phone numbers: parsed with ``phonenumbers``, stored in E.164, shown in national format.

A number typed without ``+country`` is read as a number of the organization's country
(``Organization.country``); with no country set, only international numbers parse.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

INVALID_PHONE = _("Enter a valid phone number, such as +359 2 123 4567.")


def normalize_phone(value: str, region: str = "") -> str:
    """``"02 123 4567"`` with region ``BG`` → ``"+35921234567"``; empty stays empty.

    Raises ``ValidationError`` (code ``invalid_phone``) for text that is not a possible,
    valid number. Extensions (``x123``) are kept in the RFC 3966 form ``;ext=123``.
    """
    value = (value or "").strip()
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        raise ValidationError(INVALID_PHONE, code="invalid_phone")
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(INVALID_PHONE, code="invalid_phone")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={number.extension}" if number.extension else e164


@lru_cache(maxsize=8192)
def format_phone(value: str, region: str = "") -> str:
    """Stored E.164 → national format when it is a number of ``region``, else international.

    Text that does not parse (rows older than E.164 storage) is shown as it is.
    Cached: a list page formats the same numbers again and again, and parsing is the
    slowest part of drawing a row.
    """
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value.replace(";ext=", " ext. "), None)
    except phonenumbers.NumberParseException:
        return value
    same_country = region and phonenumbers.region_code_for_number(number) == region.upper()
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if same_country
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)


def is_e164(value: str) -> bool:
    """True for what ``normalize_phone`` stores (``+`` and 8 to 15 digits, maybe ``;ext=``)."""
    number, _sep, ext = (value or "").partition(";ext=")
    return (
        number.startswith("+")
        and number[1:].isdigit()
        and 8 <= len(number) - 1 <= 15
        and (not ext or ext.isdigit())
    )
