"""HTTP API: FastAPI routers shared by every API Lambda (via Mangum) and the local server."""
