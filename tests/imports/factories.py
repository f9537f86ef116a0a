"""Imports for tests, made through the services like a person would make them."""

from __future__ import annotations

import itertools

from django.core.files.uploadedfile import SimpleUploadedFile

from pulse.core.testing import register_factory
from pulse.imports.engine import run_job
from pulse.imports.mapping import signature
from pulse.imports.models import ImportJob, ImportMapping, ImportRecord
from pulse.imports.services import import_set_mapping, import_start, import_upload

_n = itertools.count(1)


def upload(org, actor, content: bytes | str, *, name="contacts.csv", target="contacts", **options):
    """An uploaded file as an ``ImportJob`` waiting for its mapping."""
    if isinstance(content, str):
        content = content.encode()
    return import_upload(
        org=org,
        actor=actor,
        target=target,
        file=SimpleUploadedFile(name, content),
        **options,
    )


def run(job, actor, **mapping_options):
    """Map (as guessed unless given), start and run an import in this process."""
    if mapping_options or job.status == ImportJob.Status.MAPPING:
        job = import_set_mapping(
            job=job,
            actor=actor,
            mapping=mapping_options.pop("mapping", job.mapping),
            **mapping_options,
        )
        job = import_start(job=job, actor=actor)
    # The task is queued on commit; tests run the body directly, as the worker would.
    return run_job(job_id=job.pk, actor=actor)


@register_factory(ImportJob)
def make_import(org, actor, **fields):
    n = next(_n)
    return upload(
        org,
        actor,
        f"First Name,Last Name,Email\nImogen,Importer {n},imogen{n}@imports.example\n",
        mode="create",
    )


@register_factory(ImportRecord)
def make_import_record(org, actor, **fields):
    job = run(make_import(org, actor), actor)
    return job.records.get()


@register_factory(ImportMapping)
def make_import_mapping(org, actor, **fields):
    n = next(_n)
    job = upload(org, actor, f"Name {n},Email\nMapped,mapped{n}@imports.example\n")
    import_set_mapping(job=job, actor=actor, mapping={"0": "full_name", "1": "email"})
    return ImportMapping.objects.get(signature=signature([f"Name {n}", "Email"]))
