"""Demo data loaded by `flask --app wsgi seed` (the old service's plans, merchants, providers)."""
