"""The search index stays true to the records, whoever writes them (pulse/contacts/fts.py on
SQLite; PostgreSQL's trigram index is an expression index and cannot drift), and odd input
matches literally."""

from __future__ import annotations

import pytest
from django.db import connection

from pulse.audit.services import trash_purge
from pulse.contacts import fts
from pulse.contacts.models import Company, Contact
from pulse.contacts.search import CONTACT_SEARCH, parse_query, search_filter
from pulse.contacts.services import company_update, contact_delete, contact_update
from pulse.core.tenancy import tenant_context
from tests.contacts.factories import make_company, make_contact

pytestmark = pytest.mark.django_db

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's FTS5 index; PostgreSQL has no triggers"
)


def _found(org, owner, query, model=Contact) -> set[str]:
    with tenant_context(org, actor=owner):
        qs = model.objects.restrict(owner, "view")
        return {str(row) for row in search_filter(qs, query)}


def test_a_renamed_contact_is_found_by_its_new_name_only(org, owner):
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner, first_name="Ada", last_name="Lovelace")
        contact_update(contact=contact, actor=owner, last_name="Byron")

    assert _found(org, owner, "byron") == {"Ada Byron"}
    assert _found(org, owner, "lovelace") == set()


def test_a_queryset_update_and_bulk_create_reach_the_index(org, owner):
    with tenant_context(org, actor=owner):
        contact = make_contact(org, owner, first_name="Ada", last_name="Lovelace")
        # Writes that bypass the services (data fixes, the bench generator) count too.
        Contact.objects.filter(pk=contact.pk).update(email="countess@engine.example")
        Contact.objects.bulk_create(
            [Contact(organization=org, first_name="Charles", last_name="Babbage")]
        )

    assert _found(org, owner, "countess") == {"Ada Lovelace"}
    assert _found(org, owner, "babbage") == {"Charles Babbage"}


def test_trashed_and_purged_contacts_are_not_found(org, owner):
    with tenant_context(org, actor=owner):
        trashed = make_contact(org, owner, first_name="Trashed", last_name="Quixote")
        purged = make_contact(org, owner, first_name="Purged", last_name="Quixote")
        make_contact(org, owner, first_name="Kept", last_name="Quixote")
        contact_delete(contact=trashed, actor=owner)
        trash_purge(instance=contact_delete(contact=purged, actor=owner), actor=owner)

    assert _found(org, owner, "quixote") == {"Kept Quixote"}
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM contacts_contact_search WHERE record_id = %s",
                [purged.pk.hex],
            )
            assert cursor.fetchone()[0] == 0


def test_a_company_rename_changes_who_its_name_finds(org, owner):
    with tenant_context(org, actor=owner):
        company = make_company(org, owner, name="Northwind Traders")
        make_contact(org, owner, first_name="Grace", last_name="Hopper", company=company)
        company_update(company=company, actor=owner, name="Southwind Imports")

    assert _found(org, owner, "southwind") == {"Grace Hopper"}
    assert _found(org, owner, "northwind") == set()
    assert _found(org, owner, "southwind", Company) == {"Southwind Imports"}


@pytest.mark.parametrize("query", ['"', '""', "%", "%%%", "_", "___", "a*", "x OR y", "(ab"])
def test_search_syntax_characters_match_literally(org, owner, query):
    with tenant_context(org, actor=owner):
        make_contact(org, owner, first_name="Ada", last_name="Lovelace", email="ada@x.example")

    assert _found(org, owner, query) == set()


def test_percent_and_quote_in_a_name_are_found_as_typed(org, owner):
    with tenant_context(org, actor=owner):
        make_contact(org, owner, first_name='Deal "50%"', last_name="Off")
        make_contact(org, owner, first_name="Deal 500", last_name="Off")

    assert _found(org, owner, '"50%"') == {'Deal "50%" Off'}
    assert _found(org, owner, "50%") == {'Deal "50%" Off'}


def test_letters_beyond_ascii_match_in_either_case(org, owner):
    with tenant_context(org, actor=owner):
        make_contact(org, owner, first_name="Änne", last_name="Øvergård")
        make_contact(org, owner, first_name="Борис", last_name="Петров")

    assert _found(org, owner, "ÄNNE") == {"Änne Øvergård"}
    assert _found(org, owner, "øVERGÅ") == {"Änne Øvergård"}
    assert _found(org, owner, "петр") == {"Борис Петров"}
    # Short words start a word, beyond ASCII too.
    assert _found(org, owner, "бо") == {"Борис Петров"}
    assert _found(org, owner, "ор") == set()


def test_a_one_letter_word_matches_word_starts(org, owner):
    with tenant_context(org, actor=owner):
        make_contact(org, owner, first_name="Ada", last_name="Lovelace", email="")
        make_contact(org, owner, first_name="Grace", last_name="Hopper", email="")

    assert _found(org, owner, "h") == {"Grace Hopper"}
    assert _found(org, owner, "a l") == {"Ada Lovelace"}


@sqlite_only
def test_lost_triggers_are_recreated_and_the_index_rebuilt(org, owner):
    with tenant_context(org, actor=owner):
        kept = make_contact(org, owner, first_name="Ada", last_name="Lovelace")
    # What a migration that rebuilds the contact table does to its triggers.
    with connection.cursor() as cursor:
        for name in fts._triggers("contacts_contact", fts.DOCUMENTS["contacts_contact"]):
            if name.startswith("contacts_contact_search_on_"):
                cursor.execute(f"DROP TRIGGER {name}")
    with tenant_context(org, actor=owner):
        missed = make_contact(org, owner, first_name="Grace", last_name="Hopper")
        contact_update(contact=kept, actor=owner, last_name="Byron")
    assert _found(org, owner, "hopper") == set()  # the index missed them

    assert fts.ensure(connection) == ["contacts_contact"]

    assert _found(org, owner, "hopper") == {str(missed)}
    assert _found(org, owner, "byron") == {"Ada Byron"}
    assert _found(org, owner, "lovelace") == set()
    assert fts.ensure(connection) == []  # nothing to do the second time


@sqlite_only
def test_sqlite_answers_a_word_from_the_fts_index(org, owner):
    with tenant_context(org, actor=owner):
        make_contact(org, owner, first_name="Ada", last_name="Lovelace")
        qs = Contact.objects.restrict(owner, "view")
        # What _narrow asks first: the matching primary keys.
        matches = qs.filter(CONTACT_SEARCH.matches(parse_query("lovelace")))
        match_sql, match_params = matches.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {match_sql}", match_params)
        plan = " / ".join(str(row[-1]) for row in cursor.fetchall())
    assert "contacts_contact_search_fts VIRTUAL TABLE INDEX" in plan
    assert "SCAN contacts_contact" not in plan.replace("SCAN contacts_contact_search", "")
