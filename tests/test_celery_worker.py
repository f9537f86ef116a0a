"""A real Celery worker, against the real Redis, runs a tenant task that writes a row.

The worker is ``celery -A pulse worker`` in a subprocess, exactly as ``make worker``
starts it (solo pool, its own queue). It needs a database it can see:

- PostgreSQL: the test database itself (``django_db(transaction=True)``, so rows are
  committed and the worker's writes are visible, and everything is flushed afterwards);
- SQLite: the test database lives in memory, invisible to another process, so the
  test migrates its own file database under a temporary ``PULSE_VAR_DIR``.

Seeding and checking run in ``manage.py shell`` subprocesses against that same
database, so both back-ends take one path. Redis db 15 (``PULSE_TEST_REDIS_URL``) is
reserved for this test and flushed first. No Redis is a failure with a clear message,
not a skip.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from pulse.core.services import record_create
from pulse.core.tasks import tenant_task

# Db 15, or 14, 13… for parallel test processes (gw0, gw1…), which must not share it.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
REDIS_URL = os.environ.get("PULSE_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{15 - _WORKER}")
TIMEOUT = 90  # seconds for the worker to boot and run one task
BASE_DIR = Path(settings.BASE_DIR)

# transaction=True: rows are committed where the worker can see them (PostgreSQL), and
# the marker makes pytest-django set up the test database even when this file runs alone.
pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


@tenant_task(name="pulse.tests.write_tag")
def write_tag(*, org, actor, name):
    """Create tag ``name`` in ``org`` as ``actor``; idempotent (a redelivery finds it)."""
    from pulse.extras.models import Tag

    tag = Tag.objects.filter(name=name).first() or record_create(
        Tag, org=org, actor=actor, name=name
    )
    return str(tag.pk)


SEED = """
import json
from pulse.accounts.models import Membership, Organization, User
org = Organization.objects.create(name="Worker Test Org", slug="worker-test-{suffix}")
user = User.objects.create_user(email="worker-{suffix}@example.com", full_name="Wendy Worker")
Membership.objects.unscoped().create(organization=org, user=user, role="owner")
print(json.dumps({{"org_id": str(org.pk), "actor_id": user.pk}}))
"""

CHECK = """
import json
from pulse.audit.models import AuditEntry
from pulse.extras.models import Tag
tag = Tag.objects.unscoped().get(pk="{tag_id}")
entry = AuditEntry.objects.unscoped().get(object_id="{tag_id}", action="create")
print(json.dumps({{
    "name": tag.name, "org_id": str(tag.organization_id), "created_by": tag.created_by_id,
    "audit_source": entry.source, "audit_actor": entry.actor_id,
    "audit_request_id": entry.request_id,
}}))
"""


def _redis():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=3)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({exc}). This test starts a real Celery "
            "worker and needs a running Redis: start redis-server (or point "
            "PULSE_TEST_REDIS_URL at one)."
        )
    return client


def _database_url(tmp_path) -> str:
    """A database URL the worker subprocess can open, holding the current schema."""
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        assert s["NAME"].startswith("test_"), f"not a test database: {s['NAME']}"
        auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    if connection.vendor == "sqlite":
        url = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
        _manage(url, tmp_path, "migrate", "--noinput")
        return url
    pytest.fail(f"no worker database recipe for {connection.vendor}")


def _env(database_url: str, var_dir: Path) -> dict:
    # Not a test process: its settings must take REDIS_URL as given (no per-worker db).
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        PULSE_VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="pulse.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


def _manage(database_url: str, var_dir: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=_env(database_url, var_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"manage.py {args[0]} failed:\n{result.stderr[-3000:]}"
    return result.stdout


def _shell(database_url: str, var_dir: Path, code: str) -> dict:
    out = _manage(database_url, var_dir, "shell", "-c", code)
    return json.loads(out.strip().splitlines()[-1])


class Worker:
    """``celery -A pulse worker`` in its own process group, logging to a file."""

    def __init__(self, database_url: str, var_dir: Path, queue: str):
        self.log_path = var_dir / "worker.log"
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "pulse",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "-Q",
                queue,
                "-n",
                f"{queue}@%h",
                "-I",
                __name__,
            ],
            cwd=BASE_DIR,
            env=_env(database_url, var_dir),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()[-4000:]

    def wait_for(self, result, timeout: float = TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if result.ready():
                return result.get(timeout=5)
            if self.process.poll() is not None:
                pytest.fail(f"the worker exited ({self.process.returncode}):\n{self.output()}")
            time.sleep(0.2)
        pytest.fail(f"the task did not finish within {timeout}s. Worker log:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


def test_worker_runs_tenant_task_inside_its_organization(tmp_path):
    redis_client = _redis()
    redis_client.flushdb()  # db 15 belongs to this test: no stale tasks or results
    database_url = _database_url(tmp_path)
    seeded = _shell(database_url, tmp_path, SEED.format(suffix=uuid.uuid4().hex[:8]))
    queue = f"pulse-test-{uuid.uuid4().hex[:8]}"
    client = Celery("pulse-test-client", broker=REDIS_URL, backend=REDIS_URL)

    worker = Worker(database_url, tmp_path, queue)
    try:
        result = client.send_task(
            "pulse.tests.write_tag",
            kwargs={**seeded, "name": "Written by the worker"},
            queue=queue,
        )
        tag_id = worker.wait_for(result)
        assert result.status == "SUCCESS"

        gone = client.send_task(
            "pulse.tests.write_tag",
            kwargs={"org_id": str(uuid.uuid4()), "actor_id": None, "name": "Nobody's"},
            queue=queue,
        )
        assert worker.wait_for(gone) is None  # an organization that is gone: a clean no-op
        assert gone.status == "SUCCESS"
        assert worker.process.poll() is None, "the worker died"
    finally:
        worker.stop()
        client.close()
        redis_client.flushdb()

    written = _shell(database_url, tmp_path, CHECK.format(tag_id=tag_id))
    assert written == {
        "name": "Written by the worker",
        "org_id": seeded["org_id"],
        "created_by": seeded["actor_id"],
        "audit_source": "task",
        "audit_actor": seeded["actor_id"],
        "audit_request_id": result.id.replace("-", ""),
    }
    assert "pulse.tests.write_tag" in worker.output()
