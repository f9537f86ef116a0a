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
        with self.client.post(
            "/login/",
            data={
                "csrfmiddlewaretoken": token.group(1) if token else "",
                "username": email,
                "password": SAMPLES.get("password", ""),
            },
            headers={"Referer": f"{self.host}/login/"},
            name="login",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            # Signed in means redirected away from the form with a session cookie; the
            # form shown again (200) means it was refused.
            if response.status_code != 302 or "sessionid" not in self.client.cookies:
                response.failure(f"not signed in ({response.status_code})")
        self.csrf = self.client.cookies.get("csrftoken", "")

    def _get(self, path: str, name: str, **kwargs):
        """A page or API read: anything but 200 counts as an error, a redirect too (a
        signed-out user is sent to the login page, which must not pass for the page)."""
        with self.client.get(
            path, name=name, allow_redirects=False, catch_response=True, **kwargs
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}")

    def _pick(self, key: str):
        values = SAMPLES.get(key) or []
        return self.rng.choice(values) if values else None

    def _api_headers(self) -> dict:
        return {"X-CSRFToken": self.csrf, "Referer": f"{self.host}/"}

    @task(6)
    def browse_contacts(self):
        page = self.rng.randint(1, 40)
        ordering = self.rng.choice(["", "-created_at", "last_name", "email"])
        self._get(f"/contacts/?page={page}&ordering={ordering}", "contact list")

    @task(4)
    def search_contacts(self):
        term = self._pick("names") or "a"
        self._get("/contacts/", "contact search", params={"search": term})

    @task(2)
    def global_search(self):
        term = self._pick("company_words") or "a"
        self._get("/search/", "global search", params={"q": term})

    @task(5)
    def open_contact(self):
        pk = self._pick("contact_ids")
        if pk:
            self._get(f"/contacts/{pk}/", "contact detail")
            self._get(f"/timeline/contact/{pk}/", "contact timeline")

    @task(3)
    def open_deal(self):
        pk = self._pick("opportunity_ids")
        if pk:
            self._get(f"/opportunities/{pk}/", "opportunity detail")

    @task(2)
    def browse_leads(self):
        self._get(f"/leads/?page={self.rng.randint(1, 20)}", "lead list")

    @task(2)
    def board(self):
        pipeline = SAMPLES.get("pipeline_id", "")
        self._get(f"/opportunities/board/?pipeline={pipeline}", "deals board")

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
        self._get("/activities/", "activity list")

    @task(3)
    def dashboard(self):
        self._get("/", "dashboard")
        self._get("/api/crm/dashboard/?period=this_quarter", "dashboard metrics (API)")
