"""Use cases. Each function owns its transaction; none touches Flask's request or abort."""
