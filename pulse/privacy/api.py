"""REST API of privacy under /api/crm/."""

routes: list = []
