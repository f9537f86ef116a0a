"""REST API of segments under /api/crm/."""

routes: list = []
