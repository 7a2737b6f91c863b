"""The FastAPI app served by the Lambda function.

"Lazy" because nothing expensive (database pools, secrets) is touched at import time:
a cold start only builds the routing table, and each dependency is resolved on first use.
"""

from fastapi import FastAPI, HTTPException

from src import settings

app = FastAPI(title="credmate backend", version=settings.VERSION)


@app.get("/health")
def health() -> dict:
    return {"status": "healthy", "mode": "lazy"}


@app.get("/version")
def version() -> dict:
    return {"version": settings.VERSION, "environment": settings.environment()}


@app.get("/credentials/{credential_id}")
def credential(credential_id: int) -> dict:
    if credential_id <= 0:
        raise HTTPException(status_code=404, detail="credential not found")
    return {"id": credential_id, "database_secret": settings.database_secret_configured()}
