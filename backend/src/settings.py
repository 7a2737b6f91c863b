"""Settings read from the Lambda environment, never at import time of anything heavy."""

import os

VERSION = "0.1.0"


def environment() -> str:
    return os.environ.get("APP_ENVIRONMENT", "local")


def database_secret_configured() -> bool:
    # The ARN is configuration; the secret value is fetched only when a query needs it.
    return bool(os.environ.get("DATABASE_SECRET_ARN"))
