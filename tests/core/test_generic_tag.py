"""Tags through the generic view, API and FilterSet test classes: data only (rule 11)."""

from pulse.core.testing import APITestCases, FilterSetTestCase, ViewTestCases
from pulse.extras.filtersets import TagFilterSet
from pulse.extras.models import Tag
from pulse.extras.services import tag_create


class TestTagViews(ViewTestCases.OrganizationObjectViewTestCase):
    model = Tag
    form_data = {"name": "Key account", "color": "#1a2b3c"}
    edit_data = {"name": "Strategic account", "color": "#3c2b1a"}
    invalid_form_data = {"name": "", "color": "red"}


class TestTagAPI(APITestCases.APITestCase):
    model = Tag
    api_basename = "tag"
    create_data = {"name": "Key account", "color": "#1a2b3c"}
    update_data = {"color": "#3c2b1a"}
    invalid_create_data = {"name": "", "color": "red"}
    invalid_create_error_fields = {"name", "color"}


class TestTagFilterSet(FilterSetTestCase):
    model = Tag
    filterset = TagFilterSet
    api_basename = "tag"

    def filter_objects(self, world):
        def tag(name):
            return tag_create(org=world.org, actor=world.owner, name=name, color="#123456")

        return {"hot": tag("Hot lead"), "cold": tag("Cold lead"), "vip": tag("VIP")}

    filter_cases = [
        ({"search": "lead"}, {"hot", "cold"}),
        ({"search": "HOT"}, {"hot"}),
        ({"search": "vip"}, {"vip"}),
        ({"search": "nothing"}, set()),
    ]
