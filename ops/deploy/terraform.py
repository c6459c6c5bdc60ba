"""Drive Terraform for a target (`local` or `aws`) through python-terraform.

Each target has its own working directory, `<home>/terraform/<target>/`: a copy of `terraform/` (synced
before every command), its `.terraform/`, its state and its `terraform.tfvars.json`. State for the local
AWS and for real AWS never mix. For `local`, a rendered `providers_override.tf` points every service the
stack uses at the local AWS; the root module itself is the one that runs against AWS.

python-terraform builds the commands and parses `output -json`. Two departures: its `destroy()` sends
`-force`, which Terraform 1.x rejects, so destroying is `apply -destroy`; and apply/destroy stream their
output line by line (python-terraform either captures or prints, not both) so long applies show progress
and failures still turn into one-line errors. A streamed command runs in its own session, and the first
Ctrl-C or SIGTERM to this process lets it finish: after Terraform's own graceful stop (SIGINT) a role
AWS had just created was seen missing from the state (the provider's call in flight is cancelled), and
the rerun failed with "already exists". A second interrupt is passed on (Terraform's graceful
stop), a third stops it at once.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Iterator, TextIO

import jinja2
from python_terraform import IsFlagged, IsNotFlagged, Terraform

from ops.deploy import remote_state
from ops.core import state
from ops.core.config import FILES
from training.errors import UserError

MODULE_DIR = FILES / "terraform"
TARGETS = ("local", "aws")
DEFAULT_PLUGIN_DIR = Path("/opt/tf-plugins")
PLUGIN_DIR_ENV = "DOGS_TF_PLUGIN_DIR"
TFVARS = "terraform.tfvars.json"
OVERRIDE = "providers_override.tf"
BACKEND = "backend.tf"  # the S3 backend block ops/deploy/remote_state.py writes when remote state is configured
LOCK_TIMEOUT_ENV = "DOGS_TF_LOCK_TIMEOUT"
# Every service the stack calls (the provider's endpoint names), pointed at the local AWS.
LOCAL_SERVICES = ("apigateway", "applicationautoscaling", "budgets", "cloudwatch", "iam", "lambda", "logs",
                  "s3", "sagemaker", "sts", "wafv2")
TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                               undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


class TerraformError(UserError):
    """A Terraform command failed; the message carries Terraform's own diagnostics."""


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise TerraformError(f"target {target!r}: must be one of {', '.join(TARGETS)}")


def workdir(target: str) -> Path:
    _check_target(target)
    return state.home() / "terraform" / target


def plugin_dir(given: str | Path | None = None) -> Path | None:
    """The provider mirror for offline init: the argument, $DOGS_TF_PLUGIN_DIR, else /opt/tf-plugins
    when it exists, else None (init downloads from the registry)."""
    chosen = given or os.environ.get(PLUGIN_DIR_ENV)
    if chosen:
        path = Path(chosen)
        if not path.is_dir():
            raise TerraformError(f"provider mirror {path}: no such folder (from --plugin-dir "
                                 f"or ${PLUGIN_DIR_ENV})")
        return path
    return DEFAULT_PLUGIN_DIR if DEFAULT_PLUGIN_DIR.is_dir() else None


def sync_module(target: str) -> Path:
    """Copy terraform/ into the target's working directory (keeping its .terraform/ and state)."""
    work = workdir(target)
    work.mkdir(parents=True, exist_ok=True)
    for old in [*work.glob("*.tf"), work / "modules"]:
        if old.is_dir():
            shutil.rmtree(old)
        elif old.name != OVERRIDE:
            old.unlink(missing_ok=True)
    ignore = shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfvars*", "examples", "README.md")
    for item in MODULE_DIR.iterdir():
        if item.name == BACKEND and target == "local":
            continue  # a team's remote backend is for AWS; local state stays in the working directory
        if item.is_dir() and item.name == "modules":
            shutil.copytree(item, work / "modules", ignore=ignore)
        elif item.suffix == ".tf" or item.name == ".terraform.lock.hcl":
            shutil.copy2(item, work / item.name)
    return work


def render_local_override(target_dir: Path, url: str, region: str, ca_bundle: str,
                          access_key: str = "testing", secret_key: str = "testing") -> Path:
    """Write the provider override that points every used service at the local AWS."""
    text = TEMPLATES.get_template(f"{OVERRIDE}.j2").render(
        url=url, region=region, ca_bundle=ca_bundle, access_key=access_key, secret_key=secret_key,
        services=LOCAL_SERVICES, width=max(map(len, LOCAL_SERVICES)))
    path = target_dir / OVERRIDE
    path.write_text(text)
    return path


def write_tfvars(target: str, variables: dict[str, Any]) -> Path:
    path = workdir(target) / TFVARS
    state.write_json_atomic(path, variables)
    return path


def has_cli_config_file(env) -> bool:
    """False when TF_CLI_CONFIG_FILE names a missing file: Terraform then warns on every command, so
    callers drop the variable (unset, it is True: nothing to drop)."""
    path = env.get("TF_CLI_CONFIG_FILE")
    return path is None or Path(path).is_file()


@contextmanager
def _environment(target: str) -> Iterator[None]:
    """The process environment Terraform runs in (python-terraform passes os.environ on)."""
    saved = dict(os.environ)
    os.environ["TF_IN_AUTOMATION"] = "1"
    if not has_cli_config_file(os.environ):
        os.environ.pop("TF_CLI_CONFIG_FILE", None)
    if target == "local":
        from ops.emulator.local_aws import CREDENTIALS
        os.environ.update(CREDENTIALS)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _client(target: str) -> Terraform:
    return Terraform(working_dir=str(workdir(target)), terraform_bin_path=_terraform_bin())


def _terraform_bin() -> str:
    found = shutil.which("terraform")
    if not found:
        raise TerraformError("terraform is not on the PATH; install Terraform >= 1.9")
    return found


def diagnostics(text: str) -> str:
    """Terraform's error boxes as one line: 'Error: <summary> (var.x): <detail>; ...'."""
    errors = []
    for block in re.findall(r"Error: (.*?)(?:\n╵|\Z)", text, flags=re.S):
        lines = [ln.strip("│ ").strip() for ln in block.splitlines()]
        summary = lines[0]
        variables = sorted(set(re.findall(r"\bvar\.[A-Za-z0-9_]+", block)))
        detail = [ln for ln in lines[1:] if ln and not re.match(
            r"^(on |with |\d+:|├|│|var\.|This was checked|Error: )", ln)]
        where = f" ({', '.join(variables)})" if variables else ""
        errors.append(f"{summary}{where}: {' '.join(detail)}".rstrip(": "))
    return "; ".join(errors) or " ".join(text.split())[-500:]


def _check(result: tuple[int, str, str], what: str, ok=(0,)) -> tuple[int, str, str]:
    code, out, err = result
    if code not in ok:
        raise TerraformError(f"terraform {what} failed: {diagnostics((err or '') + (out or ''))}")
    return result


def init(target: str, mirror: str | Path | None = None,
         backend: "remote_state.Backend | None" = None) -> None:
    """`terraform init` in the target's working directory, offline from a mirror when there is one;
    with `backend` (aws only), on the S3 backend it describes (ops/deploy/remote_state.py)."""
    mirror = plugin_dir(mirror)
    options: dict[str, Any] = {"reconfigure": IsNotFlagged, "upgrade": IsNotFlagged}
    if mirror:
        options["plugin_dir"] = str(mirror)
    settings = None
    if backend is not None:
        if target != "aws":
            raise TerraformError("remote state is for --target aws; the local target keeps its own")
        from ops.emulator import local_aws

        settings = str(remote_state.write(workdir(target), backend, local_aws.stand_in()))
    with _environment(target):
        # A file path is passed as -backend-config=<file>.
        _check(_client(target).init(backend_config=settings, **options), "init")


def lock_timeout() -> str:
    """How long a command waits for the state lock another run holds ($DOGS_TF_LOCK_TIMEOUT, e.g.
    0s to fail at once; default 60s), then fails naming the holder."""
    value = os.environ.get(LOCK_TIMEOUT_ENV, "").strip() or "60s"
    if not re.fullmatch(r"\d+[smh]", value):
        raise TerraformError(f"${LOCK_TIMEOUT_ENV} {value!r}: a duration such as 0s, 60s or 5m")
    return value


def remote(target: str) -> bool:
    """Whether the target's working directory keeps its state in a remote backend."""
    return (workdir(target) / BACKEND).is_file()


def validate(target: str) -> None:
    with _environment(target):
        _check(_client(target).cmd("validate", no_color=IsFlagged), "validate")


def plan(target: str, var_files: list[str] | None = None, destroy: bool = False,
         out: str | None = None, echo: bool | TextIO = True,
         resources: list[str] | None = None) -> tuple[bool, str]:
    """`terraform plan -detailed-exitcode` (optionally only `resources`); returns (changes pending, plan text)."""
    code, text = _stream(target, "plan", echo=echo, ok=(0, 2),
                         destroy=IsFlagged if destroy else IsNotFlagged, detailed_exitcode=IsFlagged,
                         var_file=var_files or [TFVARS], out=out, lock_timeout=lock_timeout(),
                         **{"target": resources or []})
    return code == 2, text


def apply(target: str, var_files: list[str] | None = None, resources: list[str] | None = None,
          plan_file: str | None = None, echo: bool | TextIO = True) -> str:
    """`terraform apply -auto-approve`: a saved plan, or the variables (optionally only `resources`)."""
    if plan_file:
        return _stream(target, "apply", echo=echo, args=[plan_file], auto_approve=IsFlagged,
                       lock_timeout=lock_timeout())[1]
    return _stream(target, "apply", echo=echo, auto_approve=IsFlagged, var_file=var_files or [TFVARS],
                   **{"target": resources or []}, lock_timeout=lock_timeout())[1]


def destroy(target: str, var_files: list[str] | None = None, echo: bool | TextIO = True) -> str:
    """Destroy everything in the target's state: `apply -destroy` (python-terraform's destroy() sends
    -force, which Terraform 1.x rejects)."""
    return _stream(target, "apply", echo=echo, destroy=IsFlagged, auto_approve=IsFlagged,
                   var_file=var_files or [TFVARS], lock_timeout=lock_timeout())[1]


def state_list(target: str) -> list[str]:
    if not remote(target) and not (workdir(target) / "terraform.tfstate").exists():
        return []
    with _environment(target):
        _, out, _ = _check(_client(target).cmd("state list"), "state list")
    return out.split()


def state_rm(target: str, address: str) -> None:
    with _environment(target):
        _check(_client(target).cmd("state rm", address), "state rm")


def import_resource(target: str, address: str, resource_id: str,
                    var_files: list[str] | None = None) -> None:
    with _environment(target):
        _check(_client(target).cmd("import", address, resource_id, var_file=var_files or [TFVARS],
                                   input=False, no_color=IsFlagged), "import")


def outputs(target: str) -> dict[str, Any]:
    """The root module's outputs as {name: value} (sensitive values included: handle with care)."""
    if not workdir(target).is_dir():
        return {}
    with _environment(target):
        raw = _client(target).output()
    return {name: item["value"] for name, item in (raw or {}).items()}


@contextmanager
def _interrupts_deferred(proc: subprocess.Popen) -> Iterator[list[int]]:
    """While `proc` runs, SIGINT and SIGTERM to this process are counted: the first lets it finish, so its
    state stays whole; later ones send it SIGINT (Terraform's graceful stop, then its immediate one).
    Yields the signals received."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield received
        return

    def forward(signum, _frame):
        received.append(signum)
        if len(received) == 1:
            sys.stderr.write("\ninterrupted: letting Terraform finish, so its state stays whole; interrupt "
                             "again to stop it sooner (what it is creating then may be left out of its state)\n")
            sys.stderr.flush()
            return
        with suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _stream(workspace: str, command: str, echo: bool | TextIO, ok=(0,), args: list[str] | None = None,
            **options: Any) -> tuple[int, str]:
    """Run a command, echoing its output as it comes (to stdout, or to the file `echo` names), and keep
    the text for errors."""
    tf = _client(workspace)
    options.setdefault("no_color", IsFlagged)
    options.setdefault("input", False)
    argv = tf.generate_cmd_string(command, *(args or []), **options)
    lines = []
    with _environment(workspace):
        proc = subprocess.Popen(argv, cwd=tf.working_dir, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
                                start_new_session=True)
        assert proc.stdout is not None
        with _interrupts_deferred(proc) as received:
            for line in proc.stdout:
                lines.append(line)
                if echo:
                    out = sys.stdout if echo is True else echo
                    with suppress(BrokenPipeError):  # whoever read our output is gone: keep reading Terraform's
                        out.write(line)
                        out.flush()
            code = proc.wait()
    tf.temp_var_files.clean_up()
    text = "".join(lines)
    if received:
        finished = "Terraform was let finish, so its state is whole" if len(received) == 1 else \
            "Terraform was stopped; what it was creating may be missing from its state"
        raise TerraformError(f"terraform {command} interrupted ({signal.Signals(received[0]).name}): "
                             f"{finished} (exit status {code}); run the same command again")
    if code not in ok:
        locked = remote_state.lock_error(text, Path(tf.working_dir))
        if locked:
            raise locked
        raise TerraformError(f"terraform {command} failed: {diagnostics(text)}")
    return code, text


def show(target: str, plan_file: str, as_json: bool = False) -> str:
    """`terraform show` of a saved plan: the human-readable text, or the JSON document."""
    options: dict[str, Any] = {"no_color": IsFlagged}
    if as_json:
        options["json"] = IsFlagged
    with _environment(target):
        _, out, _ = _check(_client(target).cmd("show", plan_file, **options), "show")
    return out
