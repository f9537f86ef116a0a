"""``country_name`` answers what ``get_country_display()`` answers, in every language, by
one lookup (the detail pages, addresses and vCard exports use it)."""

from __future__ import annotations

from django.utils import translation

from pulse.contacts.models import Contact
from pulse.core.countries import COUNTRY_CHOICES, country_name


def test_country_name_is_the_display_value_in_the_active_language():
    for language in ("en", "de"):
        with translation.override(language):
            for code in [c for c, _n in COUNTRY_CHOICES] + ["", "XX"]:
                assert country_name(code) == Contact(country=code).get_country_display()


def test_an_address_ends_with_the_country_name():
    contact = Contact(street="Hauptstr. 1", postal_code="10115", city="Berlin", country="DE")
    assert contact.address_lines == ["Hauptstr. 1", "10115 Berlin", "Germany"]
    assert Contact(city="Sofia").address_lines == ["Sofia"]
