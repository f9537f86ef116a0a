"""Pipelines, stages and loss reasons through the generic view, API and filter test classes."""

from __future__ import annotations

from pulse.core.testing import APITestCases, FilterSetTestCase, ViewTestCases
from pulse.opportunities.filtersets import StageFilterSet
from pulse.opportunities.models import LossReason, Pipeline, Stage
from pulse.opportunities.services import pipeline_create, pipeline_ensure_defaults
from tests.opportunities.factories import make_stage

SETTINGS = {"list": "opportunities:pipeline_list"}


class TestPipelineViews(
    ViewTestCases.ListView,
    ViewTestCases.CreateView,
    ViewTestCases.EditView,
    ViewTestCases.DeleteView,
):
    model = Pipeline
    url_names = SETTINGS

    def form_data(self, world):
        pipeline_ensure_defaults(org=world.org)  # the default exists before the new one
        return {"name": "Renewals"}

    edit_data = {"name": "Partners", "is_default": "on"}
    invalid_form_data = {"name": "   "}


class TestPipelineAPI(APITestCases.APITestCase):
    model = Pipeline
    api_basename = "pipeline"

    def create_data(self, world):
        pipeline_ensure_defaults(org=world.org)
        return {"name": "Renewals"}

    update_data = {"name": "Partners", "is_default": True}
    invalid_create_data = {"name": ""}
    invalid_create_error_fields = {"name"}


def _default_pipeline_id(world) -> dict:
    return pipeline_ensure_defaults(org=world.org)[0]


class TestStageViews(
    ViewTestCases.ListView,
    ViewTestCases.CreateView,
    ViewTestCases.EditView,
    ViewTestCases.DeleteView,
):
    model = Stage
    url_names = SETTINGS

    def form_data(self, world):
        pipeline = _default_pipeline_id(world)
        return {
            "pipeline": str(pipeline.pk),
            "name": "Demo",
            "type": "open",
            "probability": "35",
            "rotting_days": "9",
            "color": "#123456",
        }

    edit_data = {
        "name": "Demo done",
        "type": "open",
        "probability": "45",
        "rotting_days": "",
        "color": "#654321",
    }

    def invalid_form_data(self, world):
        pipeline = _default_pipeline_id(world)
        return {
            "pipeline": str(pipeline.pk),
            "name": "",
            "type": "maybe",
            "probability": "101",
            "color": "#123456",
        }


class TestStageAPI(APITestCases.APITestCase):
    model = Stage
    api_basename = "stage"

    def create_data(self, world):
        pipeline = _default_pipeline_id(world)
        return {"pipeline": str(pipeline.pk), "name": "Demo", "type": "open", "probability": 30}

    update_data = {"name": "Demo done", "probability": 55, "rotting_days": 5}

    def invalid_create_data(self, world):
        pipeline = _default_pipeline_id(world)
        return {"pipeline": str(pipeline.pk), "name": "", "type": "maybe", "probability": -1}

    invalid_create_error_fields = {"name", "type", "probability"}


class TestLossReasonViews(
    ViewTestCases.ListView,
    ViewTestCases.CreateView,
    ViewTestCases.EditView,
    ViewTestCases.DeleteView,
):
    model = LossReason
    url_names = SETTINGS

    def form_data(self, world):
        pipeline_ensure_defaults(org=world.org)  # the default reasons exist first
        return {"name": "Went dark", "active": "on"}

    edit_data = {"name": "Ghosted", "active": ""}
    invalid_form_data = {"name": ""}


class TestLossReasonAPI(APITestCases.APITestCase):
    model = LossReason
    api_basename = "lossreason"

    def create_data(self, world):
        pipeline_ensure_defaults(org=world.org)
        return {"name": "Went dark"}

    update_data = {"name": "Ghosted", "active": False}
    invalid_create_data = {"name": ""}
    invalid_create_error_fields = {"name"}


class TestStageFilterSet(FilterSetTestCase):
    model = Stage
    filterset = StageFilterSet
    api_basename = "stage"

    def filter_objects(self, world):
        renewals = pipeline_create(org=world.org, actor=world.owner, name="Renewals")
        rows = {}
        for pipeline in pipeline_ensure_defaults(org=world.org):
            for stage in pipeline.stage_list:
                rows[f"{pipeline.name}/{stage.name}"] = stage
        rows["Renewals/Upsell"] = make_stage(
            world.org, world.owner, pipeline=renewals, name="Upsell"
        )
        self.renewals_pk = str(renewals.pk)
        return rows

    @property
    def filter_cases(self):
        # Built lazily: the pipeline id is known only once the rows exist.
        renewals = getattr(self, "renewals_pk", "")
        return [
            (
                {"pipeline": renewals},
                {
                    "Renewals/Qualification",
                    "Renewals/Needs analysis",
                    "Renewals/Proposal",
                    "Renewals/Negotiation",
                    "Renewals/Upsell",
                    "Renewals/Won",
                    "Renewals/Lost",
                },
            ),
            ({"pipeline": renewals, "type": "won"}, {"Renewals/Won"}),
            ({"type": "lost"}, {"Renewals/Lost", "New business/Lost"}),
        ]
