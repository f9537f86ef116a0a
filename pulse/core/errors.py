"""The one error type services raise (DESIGN rule 3)."""

from django.core.exceptions import ValidationError


class ApplicationError(Exception):
    """A refused state change, with field errors for forms and the API.

    ``errors`` maps a field name (or ``"__all__"``) to a list of messages.
    Views turn it into form errors, the API into ``400 {"errors": {...}}``.
    """

    def __init__(self, message: str = "", *, errors: dict[str, list[str]] | None = None):
        self.errors = errors or {"__all__": [message]}
        self.message = message or "; ".join(m for msgs in self.errors.values() for m in msgs)
        super().__init__(self.message)

    @classmethod
    def from_validation_error(cls, exc: ValidationError) -> "ApplicationError":
        if hasattr(exc, "error_dict"):
            errors = {
                field: [str(m) for e in errs for m in e.messages]
                for field, errs in exc.error_dict.items()
            }
        else:
            errors = {"__all__": [str(m) for m in exc.messages]}
        return cls(errors=errors)


class PermissionDeniedError(ApplicationError):
    """The actor's role does not allow this action."""


class TenantContextMissing(RuntimeError):
    """A tenant-scoped query was evaluated with no organization in context (rule 1)."""
