"""SageMaker's PyTorch training container, run here: its own `train` runs training/train.py from a job's files.

What SageMaker does to run a training job of `invoke train --target aws --algorithm pytorch`, with the same
open-source code inside (sagemaker-training + sagemaker-pytorch-training, `ops.containers.container_env`):
- the job is the one `ops.train.aws_training` plans (its hyperparameters, channels and sourcedir.tar.gz), on one
  instance, with the local recipe unless told otherwise; nothing is uploaded;
- SageMaker's files under `<job>/opt/ml` (the toolkit honours `SAGEMAKER_BASE_DIR`): input/config/
  hyperparameters.json, inputdataconfig.json, resourceconfig.json (host algo-1), and each channel as File
  mode leaves it, the objects under its S3 prefix (here links to the photos and LST files);
- `train`, the image's entry point, with `SAGEMAKER_TRAINING_MODULE` as the image sets it: it unpacks the
  source archive into /opt/ml/code, pip-installs its requirements.txt (a job has network by default), and
  launches the script, with torchrun for `torch_distributed`;
- afterwards, as SageMaker does, /opt/ml/model is packed into model.tar.gz, and /opt/ml/output/failure
  is what a failed job reports.
Each job gets a fresh copy of the image's Python (a venv that sees the image's packages through a .pth):
what the job pip-installs stays in that job, as in a container started from the image.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ops.train import aws_training
from ops.containers import container_env
from ops.emulator import processes
from ops.core.config import Config
from ops.train.local_train import LocalRun, pack
from training.errors import UserError

TRAINING_MODULE = "sagemaker_pytorch_container.training:main"  # the image's SAGEMAKER_TRAINING_MODULE
HOST = "algo-1"
GROUP = "homogeneousCluster"
# Only in the planned S3 URIs, which the harness maps to local folders: nothing is uploaded or read.
BUCKET = "dog-breeds-container-harness"
ROLE_ARN = "arn:aws:iam::000000000000:role/container-harness"
# Lines of the toolkit's log that start each phase of a job, for the timings.
PHASES = (("requirements", "Installing dependencies from requirements.txt"),
          ("training", "Invoking script with the following command"))
PASSED_ON = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


class ContainerTrainingError(UserError, RuntimeError):
    """The training container failed, or cannot be started here."""


@dataclass(frozen=True)
class ContainerRun(LocalRun):
    """A local run's results, and the container job's name, log and phase timings."""
    job_name: str
    log: Path
    phases: dict[str, float]  # seconds: preparing, start, requirements, training, packing


def plan(cfg: Config, *, data_dir: Path, lst_dir: Path, fold: int | None,
         overrides: Mapping[str, Any]) -> aws_training.JobPlan:
    """The job `invoke train --target aws` would create for these inputs, on one instance, with the
    config's `local:` recipe under the command line's overrides."""
    values = {**cfg.local, **overrides, "instance_count": 1, "bucket": BUCKET,
              "role_arn": cfg.aws["role_arn"] or ROLE_ARN}
    return aws_training.plan_job(cfg, data_dir=data_dir, lst_dir=lst_dir, fold=fold,
                                 algorithm="pytorch", overrides=values, session=None, dry_run=True,
                                 echo=lambda _: None)


def job_hyperparameters(job: aws_training.JobPlan, job_name: str, source: Path,
                        processes: int) -> dict[str, str]:
    """The job's HyperParameters as CreateTrainingJob gets them; the source archive a local file."""
    values = dict(job.training_request(job_name)["HyperParameters"])
    values["sagemaker_submit_directory"] = json.dumps(str(source))  # the toolkit takes a local tarball
    if processes > 1:
        # What the SDK's estimator sets for distribution={"torch_distributed": {"enabled": True}}. The
        # toolkit starts one process per GPU (nvidia-smi), else per Neuron core, else 1: on a CPU host
        # only sagemaker_mpi_num_of_processes_per_host, which every runner reads, makes it more.
        values["sagemaker_torch_distributed_enabled"] = json.dumps(True)
        values["sagemaker_instance_type"] = json.dumps(job.settings["instance_type"])
        values["sagemaker_mpi_num_of_processes_per_host"] = json.dumps(processes)
    return values


def input_data_config(job: aws_training.JobPlan) -> dict[str, dict[str, str]]:
    """inputdataconfig.json: each channel of the request, as SageMaker describes it to the container."""
    mode = job.algorithm_specification()["TrainingInputMode"]
    return {c["ChannelName"]: {
        "ContentType": c["ContentType"], "TrainingInputMode": mode,
        "S3DistributionType": c["DataSource"]["S3DataSource"]["S3DataDistributionType"],
        "RecordWrapperType": c["RecordWrapperType"]} for c in job.channels}


def resource_config(instance_type: str) -> dict[str, Any]:
    """resourceconfig.json of a one-instance job. Its ranks talk over loopback, hence `lo` (SageMaker
    names the instance's eth0; the toolkit only hands the name to NCCL, which CPU training never uses)."""
    return {"current_host": HOST, "current_instance_type": instance_type, "current_group_name": GROUP,
            "hosts": [HOST], "instance_groups": [{"instance_group_name": GROUP,
                                                  "instance_type": instance_type, "hosts": [HOST]}],
            "network_interface_name": "lo"}


def write_job_files(job: aws_training.JobPlan, base: Path, hyperparameters: Mapping[str, str]) -> None:
    """SageMaker's side of the contract under `base` (the container's /opt/ml)."""
    config = base / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    files = {"hyperparameters.json": dict(hyperparameters),
             "inputdataconfig.json": input_data_config(job),
             "resourceconfig.json": resource_config(job.settings["instance_type"])}
    for name, content in files.items():
        (config / name).write_text(json.dumps(content))
    objects = {key: path for _, uploads in job.uploads for key, path in uploads.items()}
    for channel in job.channels:
        download_channel(channel["DataSource"]["S3DataSource"]["S3Uri"], objects,
                         base / "input" / "data" / channel["ChannelName"], job.bucket)
    for sub in ("model", "output/data", "checkpoints"):
        (base / sub).mkdir(parents=True, exist_ok=True)


def download_channel(uri: str, objects: Mapping[str, Path], folder: Path, bucket: str) -> int:
    """File mode: every object under the channel's S3 prefix, at its key less the prefix (linked)."""
    prefix = uri.removeprefix(f"s3://{bucket}/")
    count = 0
    for key, path in objects.items():
        if key.startswith(prefix):
            target = folder / key[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(Path(path).resolve())
            count += 1
    if not count:
        raise ContainerTrainingError(f"channel {folder.name}: no object under {uri}")
    return count


def make_image(folder: Path) -> Path:
    """A fresh Python of the training image for one job; returns its interpreter.

    A venv without packages of its own that sees the image's (toolkit and framework layer) through a .pth:
    the job's `pip install -r requirements.txt` lands in it alone, as in a new container."""
    venv = container_env.ensure("training")
    subprocess.run([str(container_env.python("training")), "-m", "venv", "--without-pip", str(folder)],
                   check=True, capture_output=True)
    site = next((folder / "lib").glob("python*/site-packages"))
    image_site = next((venv / "lib").glob("python*/site-packages"))
    # addsitedir, not a plain path line: the image's own .pth files (its framework layer) apply too.
    (site / "training-image.pth").write_text(f"import site; site.addsitedir({str(image_site)!r})\n")
    python = folder / "bin" / "python"
    # The image has torchrun beside its python. The framework layer's own bin/torchrun starts the
    # interpreter that installed the layer (this project's .venv, which holds every training
    # requirement), so the toolkit would launch the script with packages the image lacks.
    torchrun = folder / "bin" / "torchrun"
    torchrun.write_text(f"#!{python}\nimport sys\nfrom torch.distributed.run import main\n"
                        "sys.exit(main())\n")
    torchrun.chmod(0o755)
    return python


def container_environment(image_python: Path, base: Path, home: Path) -> dict[str, str]:
    """The container's environment: the image's PATH and variables, nothing of this shell's."""
    env = {
        "PATH": f"{image_python.parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "SAGEMAKER_BASE_DIR": str(base),
        "SAGEMAKER_TRAINING_MODULE": TRAINING_MODULE,
        # A container has its network namespace to itself; this machine is shared with other runs, so
        # torchrun's one-node rendezvous (127.0.0.1, default port 29500) gets a free port instead.
        "PET_MASTER_PORT": str(processes.free_port()),
    }
    # How this machine's pip reaches its package index (a job's container reaches PyPI).
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_") or k in PASSED_ON})
    return env


def hosts_file(folder: Path) -> Path:
    """/etc/hosts as the container sees it: SageMaker makes every host of the job resolvable."""
    path = folder / "hosts"
    path.write_text(Path("/etc/hosts").read_text().rstrip("\n") + f"\n127.0.0.1 {HOST}\n")
    return path


def container_command(image_python: Path, hosts: Path) -> list[str]:
    """`train` in a mount namespace of its own whose /etc/hosts names algo-1: the toolkit waits (up to
    15 minutes) until every host in resourceconfig.json resolves, and this machine has no algo-1."""
    check_host()
    train = container_env.entry_point("training")
    return ["unshare", "--mount", "--fork", "--kill-child", "--", "sh", "-c",
            'mount --bind "$1" /etc/hosts && shift && exec "$@"', "sh", str(hosts),
            str(image_python), str(train)]


def check_host() -> None:
    """Stop before anything is written when this machine cannot run the container."""
    for tool in ("unshare", "mount"):
        if not shutil.which(tool):
            raise ContainerTrainingError(f"{tool} is missing: apt-get install util-linux")
    if os.geteuid() != 0:
        raise ContainerTrainingError("the training container needs root (a mount namespace gives it "
                                     "its own /etc/hosts); run as root")


def run_container(command: list[str], env: Mapping[str, str], log: Path, cwd: Path,
                  echo: Callable[[str], None] | None = None) -> tuple[int, dict[str, float]]:
    """Run the container to its end, its output to `log` (and `echo`); (exit status, phase starts)."""
    marks = {"start": time.monotonic()}
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=dict(env), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, errors="replace",
                                   start_new_session=True)
        try:
            for line in process.stdout:
                out.write(line)
                for phase, marker in PHASES:
                    if phase not in marks and marker in line:
                        marks[phase] = time.monotonic()
                if echo:
                    echo(line.rstrip("\n"))
            code = process.wait()
        except BaseException:  # Ctrl-C: the container goes, as a stopped job's does
            os.killpg(process.pid, 9)
            process.wait()
            raise
    marks["end"] = time.monotonic()
    return code, marks


def durations(marks: Mapping[str, float]) -> dict[str, float]:
    """Seconds from each phase's start to the next one's: start (the toolkit up to pip), requirements,
    training (torchrun or python, the script, to the container's exit)."""
    order = [p for p in ("start", "requirements", "training", "end") if p in marks]
    return {a: round(marks[b] - marks[a], 2) for a, b in zip(order, order[1:])}


def failure_reason(base: Path, code: int, log: Path, lines: int = 40) -> str:
    """What SageMaker would show as the job's FailureReason: /opt/ml/output/failure (the toolkit
    writes it), else the exit status; its last lines, with the log."""
    failure = base / "output" / "failure"
    text = failure.read_text().strip() if failure.is_file() else ""
    tail = "\n".join(text.splitlines()[-lines:]) if text else f"exit status {code}, no failure file"
    return f"{tail}\n(exit status {code}; the container's log: {log})"


def train_in_container(cfg: Config, *, data_dir: str | Path, lst_dir: str | Path, out_dir: str | Path,
                       fold: int | None = None, overrides: Mapping[str, Any] | None = None,
                       processes: int = 2, work_dir: str | Path | None = None, keep: bool = False,
                       echo: Callable[[str], None] | None = None) -> ContainerRun:
    """Run one training job in the training container; model.tar.gz and metrics.json into `out_dir`.

    The job's folder (`work_dir`, default a temporary one) is removed afterwards unless `keep`, or the
    job failed (its log and /opt/ml stay for a look)."""
    if processes < 1:
        raise ContainerTrainingError(f"processes: {processes} is not allowed; allowed: 1 or more")
    check_host()
    started = time.monotonic()
    data_dir, lst_dir, out_dir = Path(data_dir), Path(lst_dir), Path(out_dir)
    job = plan(cfg, data_dir=data_dir, lst_dir=lst_dir, fold=fold, overrides=overrides or {})
    name = aws_training.job_name("pytorch")
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="dogs-container-train-"))
    base = work / "opt" / "ml"
    if base.exists():
        raise ContainerTrainingError(f"{base} exists: give a new --work folder")
    source = work / "sourcedir.tar.gz"
    work.mkdir(parents=True, exist_ok=True)
    source.write_bytes(job.source[1])
    write_job_files(job, base, job_hyperparameters(job, name, source, processes))
    image = make_image(work / "image")
    command = container_command(image, hosts_file(work))
    log = out_dir / "container-training.log"
    code, marks = run_container(command, container_environment(image, base, work / "home"), log,
                                cwd=work, echo=echo)
    if code != 0 or not (base / "output" / "success").is_file():
        raise ContainerTrainingError(f"training job {name} failed in the container "
                                     f"(files kept in {work}):\n{failure_reason(base, code, log)}")
    packed = time.monotonic()
    artifact = pack(base / "model", out_dir / "model.tar.gz")
    metrics_path = out_dir / "metrics.json"
    shutil.copy2(base / "model" / "metrics.json", metrics_path)
    metrics = json.loads(metrics_path.read_text())
    phases = {"preparing": round(marks["start"] - started, 2), **durations(marks),
              "packing": round(time.monotonic() - packed, 2)}
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return ContainerRun(artifact=artifact, metrics_path=metrics_path, metrics=metrics,
                        model_id=metrics["model_id"], seconds=round(time.monotonic() - started, 2),
                        job_name=name, log=log, phases=phases)
