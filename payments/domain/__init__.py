"""Pure lifecycle rules: statuses, transitions, money. Imports nothing of Flask or SQLAlchemy."""
