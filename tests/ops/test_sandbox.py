"""The container sandbox (bubblewrap): what a program inside can see, write and reach, and that it ends
with its owner — wherever the image lives, /tmp included (pytest's tmp_path is under /tmp)."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from ops.containers import sandbox

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="needs bubblewrap (apt-get install bubblewrap; .ci/run installs it)")

# A program of the "image": sh and coreutils from /usr, the script from the image folder under /tmp
PROBE = """
for target in / /etc /usr "$IMAGE" "$CHECKOUT" /opt/ml/model /tmp; do
  if touch "$target/probe" 2>/dev/null; then echo "wrote $target"; else echo "refused $target"; fi
done
echo "caps $(grep CapEff /proc/self/status | cut -f2)"
echo "netns $(readlink /proc/1/ns/net)"
echo "init $(tr '\\0' ' ' < /proc/1/cmdline)"
[ -e /etc/shadow ] && echo "shadow visible" || echo "no shadow"
[ -e "$HOME_AWS" ] && echo "aws visible" || echo "no aws"
cat /sys/class/net/*/address 2>/dev/null | wc -l | sed 's/^/interfaces /'
"""


@pytest.fixture
def image(tmp_path) -> Path:
    folder = tmp_path / "image"
    folder.mkdir()
    (folder / "probe.sh").write_text(PROBE)
    return folder


def host_namespaces(kind: str) -> set[str]:
    """This side's namespaces of `kind`: this process's, and the first process's where readable."""
    found = {os.readlink(f"/proc/self/ns/{kind}")}
    try:
        found.add(os.readlink(f"/proc/1/ns/{kind}"))
    except PermissionError:  # a host that hides its first process (a container itself)
        pass
    return found


def run(box: sandbox.Sandbox, argv: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(box.command(argv), capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", **env})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_program_under_tmp_writes_only_its_model_and_tmp_folders(image, tmp_path):
    # Given an image under /tmp and a model and tmp folder of its own
    (tmp_path / "model").mkdir()
    (tmp_path / "tmp").mkdir()
    box = sandbox.Sandbox(read_only=[image], writable={"/opt/ml/model": tmp_path / "model",
                                                       "/tmp": tmp_path / "tmp"})
    checkout = Path(__file__).resolve().parents[2]

    # When its program tries to write everywhere
    out = run(box, ["sh", str(image / "probe.sh")], {"IMAGE": str(image), "CHECKOUT": str(checkout)})

    # Then only the model and tmp folders took the writes, which landed in the host folders given
    for refused in ("/", "/etc", "/usr", image, checkout):
        assert f"refused {refused}\n" in out
    assert "wrote /opt/ml/model\n" in out and "wrote /tmp\n" in out
    assert (tmp_path / "model" / "probe").exists() and (tmp_path / "tmp" / "probe").exists()
    assert not (image / "probe").exists() and not (checkout / "probe").exists()


def test_it_has_no_capabilities_no_host_namespace_and_no_secrets(image):
    box = sandbox.Sandbox(read_only=[image])

    out = run(box, ["sh", str(image / "probe.sh")], {"IMAGE": str(image), "CHECKOUT": "/nowhere",
                                                     "HOME_AWS": str(Path.home() / ".aws")})

    assert "caps 0000000000000000\n" in out
    assert "bwrap --unshare-user" in out.split("init ", 1)[1].split("\n")[0]  # /proc/1 is the sandbox's own first process, not the host's
    netns = out.split("netns ", 1)[1].split("\n", 1)[0]
    assert netns.startswith("net:[") and netns not in host_namespaces("net")
    assert "no shadow\n" in out and "no aws\n" in out
    assert "interfaces 0\n" in out  # no /sys/class/net of the host's


def test_its_network_is_loopback_only_unless_asked(image):
    probe = ["sh", "-c", "ls /proc/net >/dev/null; grep -c : /proc/net/dev"]
    # /proc/net/dev lists the namespace's interfaces after two header lines: lo alone is one
    assert run(sandbox.Sandbox(read_only=[image]), probe, {}).strip() == "1"
    host = sum(":" in line for line in Path("/proc/net/dev").read_text().splitlines())
    assert int(run(sandbox.Sandbox(read_only=[image], network=True), probe, {}).strip()) == host


def test_it_ends_with_its_owner_and_nothing_inside_outlives_it(image):
    # Given a sandbox whose program leaves a detached process behind, in a session of its own
    (image / "linger.sh").write_text("setsid sleep 600 & sleep 600\n")
    read, write = os.pipe()
    process = subprocess.Popen(sandbox.Sandbox(read_only=[image]).command(["sh", str(image / "linger.sh")],
                                                                          write), pass_fds=(write,))
    os.close(write)
    first = sandbox.child_pid(read)
    deadline = time.monotonic() + 20
    while len(psutil.Process(first).children(recursive=True)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    inside = [psutil.Process(first), *psutil.Process(first).children(recursive=True)]
    assert sum("sleep" in p.name() for p in inside) == 2

    # When its owner (bubblewrap, as if its parent died) is killed
    process.kill()
    process.wait()

    # Then every process inside ends with it, the detached one too
    gone, alive = psutil.wait_procs(inside, timeout=20)
    assert alive == []


def test_a_missing_bubblewrap_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxError, match="apt-get install bubblewrap"):
        sandbox.Sandbox(read_only=[]).command(["true"])
