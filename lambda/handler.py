"""Placeholder until the API handler lands (issue 5): Terraform needs a `handler.handler` to package."""
import json
import os


def handler(event, context):
    return {"statusCode": 503, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"error": "not implemented", "endpoint": os.environ.get("ENDPOINT_NAME")})}
