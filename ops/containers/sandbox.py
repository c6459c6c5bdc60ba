"""The container's sandbox: bubblewrap (Debian's `bubblewrap`) runs an image's entry point as SageMaker's
container would hold it, with nothing of this host's beyond what the image holds.

- a user namespace with no capabilities (`--cap-drop ALL`, no nested user namespaces): root inside is no
  one's root outside, so it cannot mount, unmount or enter another namespace;
- its own PID, IPC, UTS, cgroup and network namespaces; the network has only loopback (network isolation)
  unless `network` is asked for, and the harness's clients join it from outside (`namespace()`);
- a root filesystem that is read-only: a tmpfs holding the host's system folders (`/usr`, the merged-usr
  links), the world-readable entries of `/etc`, a new `/proc` of its own PID namespace (so `/proc/1` is
  the container's first process, never the host's), a private `/dev` — and only the host paths the image
  consists of (`read_only`: its venvs, framework layer and interpreter), each at its own path, so the
  sandbox works wherever the checkout lives (`/tmp` included: those paths are bound after the private
  `/tmp`);
- writable only `writable` (its model and tmp folders) and the `files` bound over a path (a toolkit's
  configuration file);
- `--die-with-parent`: it ends with the process that started it, and every process inside ends with it
  (its PID namespace goes with its first process).
"""
from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from training.errors import UserError

SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What the network's libraries read about the CPUs (ONNX Runtime's and PyTorch's cpuinfo), read-only
SYSTEM_FILES = ("/sys/devices/system/cpu",)


class SandboxError(UserError, RuntimeError):
    """The sandbox cannot be started here (no bubblewrap, or user namespaces are off)."""


@dataclass(frozen=True)
class Sandbox:
    """What the sandboxed process sees besides the system folders."""
    read_only: Sequence[Path]  # host paths visible at the same path, read-only (the image)
    writable: Mapping[str, Path] = field(default_factory=dict)  # path inside -> host folder
    files: Mapping[str, Path] = field(default_factory=dict)  # file inside -> host file (writable)
    network: bool = False  # False: a network namespace with only loopback
    cwd: str = "/tmp"
    hostname: str = "container"

    def command(self, argv: Sequence[str], info_fd: int | None = None) -> list[str]:
        """The bwrap command line that runs `argv` inside; with `info_fd`, bwrap writes its first
        process's host PID there as JSON (`{"child-pid": N}`), which `namespace()` needs."""
        args = [bwrap(), "--unshare-user", "--disable-userns", "--unshare-pid", "--unshare-ipc",
                "--unshare-uts", "--unshare-cgroup-try", "--hostname", self.hostname,
                "--cap-drop", "ALL", "--die-with-parent"]
        if not self.network:
            args.append("--unshare-net")
        if info_fd is not None:
            args += ["--info-fd", str(info_fd)]
        args += _system_folders()
        args += _etc(exclude=set(self.files))
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for path in SYSTEM_FILES:
            args += ["--ro-bind-try", path, path]
        for inside, host in self.writable.items():  # a host /tmp folder over the tmpfs, then
            args += ["--bind", str(host), inside]
        for path in _outermost(self.read_only):  # the image, even where it lives under /tmp
            args += ["--ro-bind", str(path), str(path)]
        for inside, host in self.files.items():
            args += ["--bind", str(host), inside]
        args += ["--remount-ro", "/", "--chdir", self.cwd, "--", *argv]
        return args


def bwrap() -> str:
    found = shutil.which("bwrap")
    if not found:
        raise SandboxError("the container sandbox needs bubblewrap: apt-get install bubblewrap")
    return found


def _system_folders() -> list[str]:
    """The host's system folders, read-only; merged-usr links (/bin -> usr/bin) stay links."""
    args: list[str] = []
    for folder in SYSTEM_FOLDERS:
        path = Path(folder)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), folder]
        elif path.is_dir():
            args += ["--ro-bind", folder, folder]
    return args


def _etc(exclude: set[str]) -> list[str]:
    """/etc as a folder of the sandbox's own holding the host's entries that every user may read
    (no /etc/shadow), read-only, and none of `exclude` (bound in their place)."""
    args = ["--dir", "/etc"]
    for entry in sorted(Path("/etc").iterdir()):
        if str(entry) in exclude:
            continue
        if entry.is_symlink():
            args += ["--symlink", os.readlink(entry), str(entry)]
            continue
        try:
            mode = entry.stat().st_mode
        except OSError:
            continue
        if (stat.S_ISDIR(mode) or stat.S_ISREG(mode)) and mode & stat.S_IROTH:
            args += ["--ro-bind", str(entry), str(entry)]
    return args


def _outermost(paths: Sequence[Path]) -> list[Path]:
    """The paths without those inside another one (bound once, with what is below)."""
    resolved = sorted({Path(p).resolve() for p in paths}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in resolved:
        if not any(path.is_relative_to(outer) for outer in kept):
            kept.append(path)
    return kept


def child_pid(info_fd_read: int) -> int:
    """The host PID of the sandbox's first process, from the JSON bwrap writes to its --info-fd (read
    end here); an error when bwrap closed it without one (it failed to start: its output says why)."""
    with os.fdopen(info_fd_read, "rb") as info:
        data = info.read()
    try:
        return int(json.loads(data)["child-pid"])
    except (ValueError, KeyError, TypeError):
        raise SandboxError("bubblewrap did not start the sandbox (no child pid); its log says why") \
            from None


def namespace(pid: int) -> Path:
    """The network namespace of sandbox process `pid`, for `ops.containers.netns.enter`."""
    return Path(f"/proc/{pid}/ns/net")
