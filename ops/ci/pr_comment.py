"""Post the plan summary as one pull-request comment, updated in place on every push.

The comment is found again by the marker line the summary starts with, so a pull request never
collects a stack of stale plans. GitHub REST API: https://docs.github.com/en/rest/issues/comments
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import requests

from ops.ci.plan_summary import MARKER
from training.errors import UserError

API_URL = "https://api.github.com"
TIMEOUT = (5, 30)


class PullRequestError(UserError):
    """The pull request or the GitHub API cannot be reached as configured."""


@dataclass(frozen=True)
class PullRequest:
    repo: str  # owner/name
    number: int


def from_github_env(env: dict[str, str] | None = None) -> PullRequest:
    """The pull request this GitHub Actions run is for (GITHUB_REPOSITORY + the event payload)."""
    env = dict(os.environ) if env is None else env
    repo, event_path = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_EVENT_PATH")
    if not repo or not event_path:
        raise PullRequestError("not in a GitHub Actions run: give --repo and --pr")
    event = json.loads(Path(event_path).read_text())
    number = (event.get("pull_request") or {}).get("number")
    if not number:
        raise PullRequestError("this GitHub event is not a pull request: give --pr")
    return PullRequest(repo, int(number))


def upsert(pr: PullRequest, body: str, token: str, *, api_url: str = API_URL) -> str:
    """Create the summary comment, or update the one already there; returns 'created'/'updated'."""
    if MARKER not in body:
        body = f"{MARKER}\n{body}"
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}",
                            "Accept": "application/vnd.github+json",
                            "X-GitHub-Api-Version": "2022-11-28"})
    existing = _find_comment(session, api_url, pr)
    if existing is None:
        url = f"{api_url}/repos/{pr.repo}/issues/{pr.number}/comments"
        _check(session.post(url, json={"body": body}, timeout=TIMEOUT), "create the comment")
        return "created"
    url = f"{api_url}/repos/{pr.repo}/issues/comments/{existing}"
    _check(session.patch(url, json={"body": body}, timeout=TIMEOUT), "update the comment")
    return "updated"


def _find_comment(session: requests.Session, api_url: str, pr: PullRequest) -> int | None:
    url = f"{api_url}/repos/{pr.repo}/issues/{pr.number}/comments"
    params = {"per_page": 100, "page": 1}
    while True:
        response = _check(session.get(url, params=params, timeout=TIMEOUT), "list the comments")
        comments = response.json()
        for comment in comments:
            if MARKER in (comment.get("body") or ""):
                return int(comment["id"])
        if len(comments) < params["per_page"]:
            return None
        params["page"] += 1


def _check(response: requests.Response, what: str) -> requests.Response:
    if response.status_code >= 400:
        raise PullRequestError(
            f"GitHub refused to {what}: HTTP {response.status_code} {response.text[:200]}")
    return response


def post(file: str | Path, repo: str | None = None, number: int | None = None,
         env: dict[str, str] | None = None) -> tuple[str, PullRequest]:
    """`invoke pr-comment`: post (or update) the plan comment from `file`; ('created'|'updated', the PR)."""
    env = dict(os.environ) if env is None else env
    token = env.get("GITHUB_TOKEN")
    if not token:
        raise PullRequestError("GITHUB_TOKEN is not set")
    target = PullRequest(repo, number) if repo and number else from_github_env(env)
    try:
        body = Path(file).read_text()
    except OSError as exc:
        raise PullRequestError(f"{file}: {exc.strerror or exc}") from None
    return upsert(target, body, token), target
