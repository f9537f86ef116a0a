"""Celery entry point for tenant work: the task wrapper sets the tenancy context (rule 1).

A tenant task receives ``org_id`` (and optionally ``actor_id``) as keyword arguments;
the wrapper loads them, runs the body inside ``tenant_context(org, actor=…,
source="task")`` and hands it ``org`` and ``actor``::

    from pulse.core.tasks import tenant_task

    @tenant_task(name="contacts.recalculate_scores")
    def recalculate_scores(*, org, actor, contact_ids):
        for contact in Contact.objects.filter(pk__in=contact_ids):
            contact_update_score(contact=contact, actor=actor)

    # enqueue after the surrounding transaction commits (rule 6):
    recalculate_scores.enqueue_on_commit(org=org, actor=user, contact_ids=[...])

Tasks must be idempotent (safe to run twice): brokers redeliver, and ``acks_late`` is on.
An organization deleted between enqueue and run is not an error: the task logs and
returns ``None``. This is the one place a task sets tenancy; task bodies never call
``tenant_context`` themselves.
"""

from __future__ import annotations

import inspect
import logging
from functools import partial

from celery import Task, shared_task
from django.db import transaction

from . import tenancy

logger = logging.getLogger("pulse.tasks")


class TenantTask(Task):
    """Base class of tenant tasks: loads ``org_id``/``actor_id`` and enters the tenancy."""

    # Celery would check the message's kwargs against ``run(*, org, actor, …)`` and refuse
    # ``org_id``; ``enqueue`` checks the arguments against that signature instead.
    typing = False

    def __call__(self, *args, org_id=None, actor_id=None, **kwargs):
        from pulse.accounts.models import Organization, User

        if org_id is None:
            raise TypeError(f"{self.name} is a tenant task: call it with org_id=…")
        org = Organization.objects.filter(pk=org_id).first()
        if org is None:
            logger.info(
                "task skipped: organization is gone",
                extra={"task": self.name, "org_id": str(org_id)},
            )
            return None
        actor = None
        if actor_id is not None:
            actor = User.objects.filter(pk=actor_id, is_active=True).first()
            if actor is None:
                logger.info(
                    "task actor is gone or inactive; running without one",
                    extra={"task": self.name, "org_id": str(org_id), "actor_id": actor_id},
                )
        task_id = getattr(self.request, "id", None)
        with (
            tenancy.request_id_context(task_id.replace("-", "") if task_id else None),
            tenancy.tenant_context(org, actor=actor, source="task"),
        ):
            return super().__call__(*args, org=org, actor=actor, **kwargs)

    @staticmethod
    def tenant_kwargs(org, actor=None) -> dict:
        """The keyword arguments that carry the tenancy across the broker."""
        return {"org_id": str(org.pk), "actor_id": actor.pk if actor is not None else None}

    def enqueue(self, *, org, actor=None, **kwargs):
        """Send now (outside a transaction, or when the caller handles commit)."""
        inspect.signature(self.run).bind(org=org, actor=actor, **kwargs)  # TypeError if wrong
        return self.apply_async(kwargs={**self.tenant_kwargs(org, actor), **kwargs})

    def enqueue_on_commit(self, *, org, actor=None, **kwargs) -> None:
        """Send once the current transaction commits, never for a rolled-back one (rule 6)."""
        transaction.on_commit(partial(self.enqueue, org=org, actor=actor, **kwargs))


def tenant_task(*args, **options):
    """Declare a tenant task: ``@tenant_task`` or ``@tenant_task(name=…, **celery_options)``.

    The function takes keyword-only ``org`` and ``actor`` plus its own JSON-safe kwargs.
    """
    options.setdefault("base", TenantTask)
    if args and callable(args[0]) and len(args) == 1 and not options.keys() - {"base"}:
        return shared_task(base=options["base"])(args[0])
    return shared_task(*args, **options)
