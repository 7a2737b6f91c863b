"""credmate backend: the FastAPI application that the Lambda function serves."""
