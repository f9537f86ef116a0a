from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ContactsConfig(AppConfig):
    name = "pulse.contacts"
    label = "contacts"
    verbose_name = "Contacts"

    def ready(self):
        # Schema upkeep, not a domain reaction (DESIGN rule 5 is about those): SQLite
        # drops the search triggers when a migration rebuilds the contact or company
        # table, so they are checked (and the index rebuilt if need be) after every
        # migrate. A no-op on PostgreSQL.
        post_migrate.connect(_ensure_search_index, sender=self)


def _ensure_search_index(using, **kwargs):
    from django.db import connections

    from . import fts

    fts.ensure(connections[using])
