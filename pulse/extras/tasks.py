"""Background work of the extras app: bulk jobs."""

from __future__ import annotations

from pulse.core.tasks import tenant_task


@tenant_task(name="extras.run_bulk_job")
def run_bulk_job(*, org, actor, job_id: str):
    """Run or resume one bulk job; a finished job is left alone (safe to run twice)."""
    from .services import bulkjob_run

    job = bulkjob_run(job_id=job_id, actor=actor)
    return job.status if job is not None else None
