"""Background work of imports: running an import and undoing one (tenant tasks)."""

from __future__ import annotations

from pulse.core.tasks import tenant_task


@tenant_task(name="imports.run_import")
def run_import(*, org, actor, job_id: str):
    """Run or resume one import; a finished import is left alone (safe to run twice)."""
    from .engine import run_job

    job = run_job(job_id=job_id, actor=actor)
    return job.status if job is not None else None


@tenant_task(name="imports.undo_import")
def undo_import(*, org, actor, job_id: str):
    """Undo one import as a unit; an import already undone is left alone."""
    from .engine import undo_job

    job = undo_job(job_id=job_id, actor=actor)
    return job.status if job is not None else None
