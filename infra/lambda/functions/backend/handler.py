"""Lambda entry point: API Gateway events into the FastAPI app through Mangum.

`src` is copied in from backend/src by `cargo xtask lambda-build` (step copy-backend);
it is a build product and is not committed here.
"""

from mangum import Mangum

from src.lazy_app import app

handler = Mangum(app, lifespan="off")
