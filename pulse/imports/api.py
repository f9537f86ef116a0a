"""REST API of imports under /api/crm/."""

routes: list = []
