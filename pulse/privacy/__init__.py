"""Privacy (GDPR): consent records, data-subject export and erasure requests."""
