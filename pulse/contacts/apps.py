from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "pulse.contacts"
    label = "contacts"
    verbose_name = "Contacts"
