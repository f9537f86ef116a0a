"""The load test's users (issue 8): what a sales team does all day, against gunicorn.

Run through ``python -m bench.load`` (``make loadtest``), which starts gunicorn, samples
record ids from the generated big organization into ``PULSE_LOAD_SAMPLES`` (a JSON file)
and runs locust headless for a bounded time. Every user signs in through the login form
as one of the organization's members, then browses lists, searches, opens records and
their timelines, logs activities, moves deals on the board and opens the dashboard.
Writes go to the benchmark database only (it is generated data).
"""

from __future__ import annotations

import json
import os
import random
import re

from locust import HttpUser, between, events, task

SAMPLES: dict = {}


@events.init.add_listener
def _load_samples(environment, **kwargs):
    path = os.environ.get("PULSE_LOAD_SAMPLES")
    if path:
        with open(path) as fh:
            SAMPLES.update(json.load(fh))


class SalesUser(HttpUser):
    """A member at work: think time of 1–5 s between actions, as people click."""

    wait_time = between(1, 5)

    def on_start(self):
        self.rng = random.Random()
        page = self.client.get("/login/", name="login page")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        email = self.rng.choice(SAMPLES.get("members") or [SAMPLES.get("owner_email")])
        self.client.post(
            "/login/",
            data={
                "csrfmiddlewaretoken": token.group(1) if token else "",
                "username": email,
                "password": SAMPLES.get("password", ""),
            },
            headers={"Referer": f"{self.host}/login/"},
            name="login",
        )
        self.csrf = self.client.cookies.get("csrftoken", "")

    def _pick(self, key: str):
        values = SAMPLES.get(key) or []
        return self.rng.choice(values) if values else None

    def _api_headers(self) -> dict:
        return {"X-CSRFToken": self.csrf, "Referer": f"{self.host}/"}

    @task(6)
    def browse_contacts(self):
        page = self.rng.randint(1, 40)
        ordering = self.rng.choice(["", "-created_at", "last_name", "email"])
        self.client.get(f"/contacts/?page={page}&ordering={ordering}", name="contact list")

    @task(4)
    def search_contacts(self):
        term = self._pick("names") or "a"
        self.client.get("/contacts/", params={"search": term}, name="contact search")

    @task(2)
    def global_search(self):
        term = self._pick("company_words") or "a"
        self.client.get("/search/", params={"q": term}, name="global search")

    @task(5)
    def open_contact(self):
        pk = self._pick("contact_ids")
        if pk:
            self.client.get(f"/contacts/{pk}/", name="contact detail")
            self.client.get(f"/timeline/contact/{pk}/", name="contact timeline")

    @task(3)
    def open_deal(self):
        pk = self._pick("opportunity_ids")
        if pk:
            self.client.get(f"/opportunities/{pk}/", name="opportunity detail")

    @task(2)
    def browse_leads(self):
        self.client.get(f"/leads/?page={self.rng.randint(1, 20)}", name="lead list")

    @task(2)
    def board(self):
        pipeline = SAMPLES.get("pipeline_id", "")
        self.client.get(f"/opportunities/board/?pipeline={pipeline}", name="deals board")

    @task(2)
    def move_deal(self):
        pk, stage = self._pick("open_opportunity_ids"), self._pick("open_stage_ids")
        if pk and stage:
            self.client.put(
                f"/api/crm/opportunities/{pk}/stage/",
                json={"stage": stage, "notes": "Moved during the load test"},
                headers=self._api_headers(),
                name="move deal (API)",
            )

    @task(3)
    def log_activity(self):
        pk = self._pick("contact_ids")
        if pk:
            self.client.post(
                "/api/crm/activities/",
                json={
                    "type": "call",
                    "subject": "Load-test call",
                    "status": "completed",
                    "contact": pk,
                    "call_direction": "outbound",
                    "call_outcome": "connected",
                },
                headers=self._api_headers(),
                name="log activity (API)",
            )

    @task(2)
    def activities(self):
        self.client.get("/activities/", name="activity list")

    @task(3)
    def dashboard(self):
        self.client.get("/", name="dashboard")
        self.client.get("/api/crm/dashboard/?period=this_quarter", name="dashboard metrics (API)")
