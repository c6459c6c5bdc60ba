"""The handler's configuration, read once from the environment variables Terraform sets on the Lambda."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Mapping

# The defaults are Terraform's (terraform/variables.tf `limits`, which always sets them; a test holds
# the two equal): 4 MiB of body, a serverless invocation's payload limit (the default endpoint type;
# Lambda's own synchronous payload limit is 6 MB for the whole event,
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
# What the Lambda asks the endpoint for: this project's inference.py answers `verbose=true` with the
# known-breed verdict beside the probabilities. Terraform sets plain JSON for the built-in algorithm's
# image, whose documented accept types are its own.
VERBOSE_ACCEPT = "application/json; verbose=true"


class SettingsError(RuntimeError):
    """The Lambda's environment is incomplete or malformed (a deployment bug, not a client error)."""


@dataclass(frozen=True)
class Settings:
    endpoint_name: str
    class_names: tuple[str, ...]
    model_id: str = ""
    max_images: int = 8
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_image_pixels: int = 40_000_000
    endpoint_timeout_seconds: float = 20.0
    connect_timeout_seconds: float = 2.0
    endpoint_max_attempts: int = 2
    concurrency: int = 8
    default_top_k: int = 5
    log_level: str = "INFO"
    cors_allowed_origins: tuple[str, ...] = ()  # browser origins that may read answers; () sends no CORS
    endpoint_accept: str = VERBOSE_ACCEPT
    endpoint_url: str | None = None  # None: botocore's own resolution (AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Settings":
        try:
            try:
                names = json.loads(env["CLASS_NAMES"])
            except ValueError:
                raise ValueError("CLASS_NAMES is not JSON") from None
            if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
                raise ValueError("CLASS_NAMES must be a non-empty JSON list of strings")
            return cls(
                endpoint_name=env["ENDPOINT_NAME"],
                class_names=tuple(names),
                model_id=env.get("MODEL_ID", ""),
                max_images=int(env.get("MAX_IMAGES", cls.max_images)),
                max_body_bytes=int(env.get("MAX_BODY_BYTES", cls.max_body_bytes)),
                max_image_pixels=int(env.get("MAX_IMAGE_PIXELS", cls.max_image_pixels)),
                endpoint_timeout_seconds=float(env.get("ENDPOINT_TIMEOUT_SECONDS",
                                                       cls.endpoint_timeout_seconds)),
                endpoint_max_attempts=int(env.get("ENDPOINT_MAX_ATTEMPTS",
                                                  cls.endpoint_max_attempts)),
                concurrency=int(env.get("CONCURRENCY", cls.concurrency)),
                default_top_k=int(env.get("DEFAULT_TOP_K", cls.default_top_k)),
                log_level=env.get("LOG_LEVEL", cls.log_level).upper(),
                cors_allowed_origins=parse_origins(env.get("CORS_ALLOWED_ORIGINS", "[]")),
                endpoint_accept=env.get("ENDPOINT_ACCEPT", cls.endpoint_accept),
            )
        except KeyError as exc:
            raise SettingsError(f"environment variable {exc.args[0]} is not set") from None
        except ValueError as exc:
            raise SettingsError(f"bad Lambda environment: {exc}") from None


def parse_origins(text: str) -> tuple[str, ...]:
    try:
        origins = json.loads(text)
    except ValueError:
        raise ValueError("CORS_ALLOWED_ORIGINS is not JSON") from None
    if not (isinstance(origins, list) and all(isinstance(o, str) and o for o in origins)):
        raise ValueError("CORS_ALLOWED_ORIGINS must be a JSON list of origins")
    return tuple(origins)
