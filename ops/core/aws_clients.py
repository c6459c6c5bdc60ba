"""AWS sessions and the translation of AWS errors into one-line `UserError`s.

Every operator-side AWS call runs inside `aws_errors("what we were doing")`: missing credentials, access
denied or a rejected request become an `AwsError` that says what failed and what to do; anything else
(a bug) keeps its traceback.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from training.errors import UserError


class AwsError(UserError, RuntimeError):
    """An AWS call failed for a reason the user can fix (credentials, permissions, names)."""


def session_for(region: str, session: boto3.session.Session | None = None) -> boto3.session.Session:
    """The given session, or a new one for `region` (credentials from the usual AWS chain)."""
    return session or boto3.session.Session(region_name=region)


def owner_checked(s3, sts: Callable[[], Any]):
    """`s3`, every bucket call of which names the bucket's expected owner (ExpectedBucketOwner): the
    account `sts()` answers for, asked once per client. S3 then refuses (403) a bucket another account
    owns, e.g. one re-created under our name after we deleted it. Calls whose API has no such
    parameter (CreateBucket, ListBuckets) are left as they are; upload_file/download_file's part calls
    get it too, since the hook sits under the transfer manager."""
    account: dict[str, str] = {}

    def add_owner(params: dict, model, **_) -> None:
        if "ExpectedBucketOwner" not in model.input_shape.members or "ExpectedBucketOwner" in params:
            return
        if "id" not in account:
            with aws_errors("looking up the AWS account (sts get-caller-identity)"):
                account["id"] = sts().get_caller_identity()["Account"]
        params["ExpectedBucketOwner"] = account["id"]

    s3.meta.events.register("before-parameter-build.s3", add_owner)
    return s3


def s3_client(session: boto3.session.Session | None = None, *, region: str | None = None, **kwargs):
    """An S3 client that names the expected bucket owner on every call (see `owner_checked`); from
    `session` (or a new one for `region`); `kwargs` (endpoint_url, credentials) go to both clients."""
    session = session or boto3.session.Session(region_name=region)
    return owner_checked(session.client("s3", **kwargs), lambda: session.client("sts", **kwargs))


def account_id(session: boto3.session.Session | None = None, *, region: str | None = None, **kwargs) -> str:
    """The account the credentials belong to (STS), from `session` (or a new one for `region`);
    `kwargs` (endpoint_url, credentials) go to the STS client."""
    session = session or boto3.session.Session(region_name=region)
    with aws_errors("looking up the AWS account (sts get-caller-identity)"):
        return session.client("sts", **kwargs).get_caller_identity()["Account"]


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn AWS failures inside the block into an AwsError naming `action`."""
    try:
        yield
    except NoCredentialsError:
        raise AwsError(f"{action}: no AWS credentials found; run `aws configure` or set "
                       "AWS_PROFILE (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)") from None
    except NoRegionError:
        raise AwsError(f"{action}: no AWS region; set aws.region in config.yaml") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), " ".join(str(error.get("Message", "")).split())
        raise AwsError(f"{action}: {code}: {message}") from None
    except BotoCoreError as exc:
        raise AwsError(f"{action}: {' '.join(str(exc).split())}") from None
