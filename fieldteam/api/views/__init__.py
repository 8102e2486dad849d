"""API views, one module per subject. Each view validates, calls one selector or service, serializes."""
