"""The local AWS: a moto server on 127.0.0.1 that Terraform and boto3 talk to instead of AWS.

`up()` starts it in the background (a free port unless one is asked for, a pid file and a log file
under `<home>/local_aws/`) and records `local_aws = {url, pid, port, ca_bundle}` in the project state;
a second `up()` finds it running and does nothing. `down()` stops it. The server process applies our
fixes for moto's gaps (ops/emulator/moto_patches.py) before it serves: `python -m ops.emulator.local_aws serve --port N`.

It speaks HTTPS with a self-signed certificate made once per work folder (`ca_bundle`): moto enforces
bucket policies, and the stack's bucket denies every request that is not TLS, as on AWS. Clients trust
it through `AWS_CA_BUNDLE` (`client_env()`), boto3's `verify=` (`client()`) or the provider's
`custom_ca_bundle` (the rendered override).
"""
from __future__ import annotations

import argparse
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from ops.emulator import processes
from ops.core import state
from ops.core.config import PROJECT_ROOT
from training.errors import UserError
from training.files import replacing

HOST = processes.HOST
STATE_KEY = "local_aws"
REGION = "us-east-1"
# moto accepts any credentials; these make boto3/terraform sign requests without touching ~/.aws.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": REGION}


class LocalAwsError(UserError):
    """The local AWS cannot start, or is not running when needed."""


@dataclass(frozen=True)
class LocalAws:
    url: str
    pid: int
    port: int
    ca_bundle: str


def folder() -> Path:
    path = state.home() / "local_aws"
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_file() -> Path:
    return folder() / "server.log"


def pid_file() -> Path:
    return folder() / "server.pid"


def certificate() -> tuple[Path, Path]:
    """The local AWS's self-signed certificate and key for 127.0.0.1 / localhost (made once)."""
    cert, key = folder() / "cert.pem", folder() / "key.pem"
    if cert.is_file() and key.is_file():
        return cert, key
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dog-breeds local AWS")])
    now = datetime.datetime.now(datetime.timezone.utc)
    built = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
             .public_key(private.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(now + datetime.timedelta(days=3650))
             .add_extension(x509.SubjectAlternativeName([
                 x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .sign(private, hashes.SHA256()))
    with replacing(key, mode=0o600) as tmp:  # mkstemp's 0600 from the first byte
        tmp.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.TraditionalOpenSSL,
                                              serialization.NoEncryption()))
    with replacing(cert, mode=0o644) as tmp:
        tmp.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    return cert, key


def responds(url: str, timeout: float = 10.0) -> bool:
    """True when our patched moto server answers at `url`."""
    from ops.emulator.moto_patches import HEALTH_PATH

    return processes.answers(f"{url}{HEALTH_PATH}", 200, certificate()[0], timeout)


def status() -> LocalAws | None:
    """The running local AWS, or None (a stale record is ignored)."""
    info = state.read(STATE_KEY)
    if not info or not processes.alive(info["pid"]) or not responds(info["url"]):
        return None
    return LocalAws(info["url"], info["pid"], info["port"], info["ca_bundle"])


def up(port: int | None = None, timeout: float = 30.0) -> LocalAws:
    """Start the local AWS (or return the running one). A requested port that is taken is an error."""
    running = status()
    if running and (port is None or port == running.port):
        return running
    if running:
        raise LocalAwsError(f"the local AWS already runs on port {running.port}; "
                            f"`invoke local.down` first to move it to {port}")
    if port is not None and processes.port_in_use(port, HOST):
        raise LocalAwsError(f"port {port} on {HOST} is taken; choose another with --port "
                            f"or leave it out for a free one")
    port = port or processes.free_port(HOST)
    cert, _ = certificate()
    from ops.emulator.moto_patches import HEALTH_PATH

    try:
        server = processes.start("server", "ops.emulator.local_aws", ["serve", "--port", str(port)], port,
                                 HEALTH_PATH, folder(), env={"PYTHONPATH": str(PROJECT_ROOT)},
                                 timeout=timeout, ca_bundle=cert)
    except processes.ServerError as exc:
        raise LocalAwsError(f"the local AWS did not start: {exc}") from None
    pid_file().write_text(f"{server.pid}\n")
    state.record(STATE_KEY, {"url": server.url, "pid": server.pid, "port": port, "ca_bundle": str(cert)})
    return LocalAws(server.url, server.pid, port, str(cert))


def down(timeout: float = 10.0) -> bool:
    """Stop the local AWS; False when none was running. Its data is gone with it."""
    info = state.read(STATE_KEY)
    stopped = False
    if info and processes.runs_module(info["pid"], "ops.emulator.local_aws", "serve"):
        processes.stop_pid(info["pid"], timeout)
        stopped = True
    pid_file().unlink(missing_ok=True)
    if info:
        state.record(STATE_KEY, None)
    return stopped


def require() -> LocalAws:
    running = status()
    if running is None:
        raise LocalAwsError("the local AWS is not running; start it with `invoke local.up`")
    return running


def stand_in() -> LocalAws | None:
    """The local AWS, when AWS_ENDPOINT_URL and AWS_CA_BUNDLE point boto3 at it (client_env): `--target
    aws` commands then talk to it as to an account, from any folder (a fresh clone included)."""
    url, ca_bundle = os.environ.get("AWS_ENDPOINT_URL", ""), os.environ.get("AWS_CA_BUNDLE", "")
    if not url.startswith(f"https://{HOST}:") or not Path(ca_bundle).is_file():
        return None
    from ops.emulator.moto_patches import HEALTH_PATH

    if not processes.answers(f"{url}{HEALTH_PATH}", 200, ca_bundle, timeout=10):
        return None
    return LocalAws(url, 0, int(url.rsplit(":", 1)[1]), ca_bundle)


def stands_in_for_aws() -> bool:
    return stand_in() is not None


def client_env(running: LocalAws) -> dict[str, str]:
    """Environment for boto3 / the AWS CLI in another process to talk to the local AWS."""
    return {**CREDENTIALS, "AWS_ENDPOINT_URL": running.url, "AWS_CA_BUNDLE": running.ca_bundle}


def client_settings(running: LocalAws | None = None) -> dict[str, str]:
    """The boto3 client arguments that reach the local AWS (the running one by default)."""
    running = running or require()
    return {"endpoint_url": running.url, "region_name": REGION, "verify": running.ca_bundle,
            "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}


def client(service: str, running: LocalAws | None = None):
    """A boto3 client on the local AWS (the running one by default)."""
    import boto3

    return boto3.client(service, **client_settings(running))


def s3_client(running: LocalAws | None = None):
    """An S3 client on the local AWS naming the expected bucket owner on every call, as on AWS."""
    from ops.core.aws_clients import owner_checked

    running = running or require()
    return owner_checked(client("s3", running), lambda: client("sts", running))


def serve(port: int, host: str = HOST) -> None:
    """Run the patched moto server in this process until it is stopped."""
    from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                               create_backend_app)
    from werkzeug.serving import make_server

    from ops.emulator import moto_patches

    moto_patches.apply()
    app = moto_patches.wrap_app(DomainDispatcherApplication(create_backend_app))
    cert, key = certificate()
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler,
                         ssl_context=(str(cert), str(key)))
    # SIGTERM (`local.down`) ends serve_forever from another thread, as shutdown() requires.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"local AWS (patched moto) on https://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ops.emulator.local_aws")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_cmd = sub.add_parser("serve", help="run the patched moto server in the foreground")
    serve_cmd.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.port)


if __name__ == "__main__":
    main()
