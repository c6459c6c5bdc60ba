"""The PR comment is created once and then updated, against a real HTTP server standing in for GitHub."""
import json
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from ops.ci import pr_comment
from ops.ci.plan_summary import MARKER


class FakeGitHub:
    """GitHub's three issue-comment endpoints, in memory (GitHub itself is out of reach here)."""

    def __init__(self, existing=()):
        self.comments = [{"id": i + 1, "body": b} for i, b in enumerate(existing)]
        self.auth = []

    @Request.application
    def __call__(self, request):
        self.auth.append(request.headers.get("Authorization"))
        parts = request.path.strip("/").split("/")
        if parts[0] != "repos":
            return Response('{"message": "Not Found"}', status=404)
        if request.method == "GET" and parts[-1] == "comments":
            per_page, page = int(request.args["per_page"]), int(request.args["page"])
            chunk = self.comments[(page - 1) * per_page: page * per_page]
            return Response(json.dumps(chunk), content_type="application/json")
        if request.method == "POST" and parts[-1] == "comments":
            comment = {"id": len(self.comments) + 1, "body": request.get_json()["body"]}
            self.comments.append(comment)
            return Response(json.dumps(comment), status=201, content_type="application/json")
        if request.method == "PATCH" and parts[-2] == "comments":
            comment = next(c for c in self.comments if c["id"] == int(parts[-1]))
            comment["body"] = request.get_json()["body"]
            return Response(json.dumps(comment), content_type="application/json")
        return Response('{"message": "Not Found"}', status=404)


@pytest.fixture
def github():
    def start(existing=()):
        app = FakeGitHub(existing)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return app, f"http://127.0.0.1:{server.server_port}"
    started = []
    yield start
    for server in started:
        server.shutdown()


PR = pr_comment.PullRequest("owner/repo", 7)


def test_first_push_creates_then_later_pushes_update_the_same_comment(github):
    app, url = github(existing=["LGTM"])
    assert pr_comment.upsert(PR, f"{MARKER}\nplan one", "t0ken", api_url=url) == "created"
    assert pr_comment.upsert(PR, f"{MARKER}\nplan two", "t0ken", api_url=url) == "updated"
    bodies = [c["body"] for c in app.comments]
    assert bodies == ["LGTM", f"{MARKER}\nplan two"]
    assert set(app.auth) == {"Bearer t0ken"}


def test_marker_is_found_beyond_the_first_page(github):
    app, url = github(existing=[f"c{i}" for i in range(100)] + [f"{MARKER}\nold"])
    assert pr_comment.upsert(PR, "new plan", "t", api_url=url) == "updated"
    assert app.comments[-1]["body"] == f"{MARKER}\nnew plan" and len(app.comments) == 101


def test_github_error_is_a_clear_user_error(github):
    _, url = github()
    with pytest.raises(pr_comment.PullRequestError, match="HTTP 404"):
        pr_comment.upsert(pr_comment.PullRequest("owner/repo", 0), "x", "t", api_url=url + "/nope")


def test_pull_request_from_the_actions_environment(tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 42}}))
    pr = pr_comment.from_github_env({"GITHUB_REPOSITORY": "o/r", "GITHUB_EVENT_PATH": str(event)})
    assert pr == pr_comment.PullRequest("o/r", 42)
    event.write_text(json.dumps({"push": {}}))
    with pytest.raises(pr_comment.PullRequestError, match="not a pull request"):
        pr_comment.from_github_env({"GITHUB_REPOSITORY": "o/r", "GITHUB_EVENT_PATH": str(event)})
