"""The HTTP API: FastAPI app, auth and access rules, the outbox and its webhook dispatcher."""
