"""The AWS path as a new user walks it, against the local AWS: the bucket and training role before any
model (`invoke deploy --training-only`), `invoke train --target aws` with no --role (the stack's role),
then deploy with nothing but the S3 artifact, on a machine with no record of the training.

One module-scoped run; the stack is destroyed at the end (the local AWS is shared by the session).
"""
from __future__ import annotations


import pytest

from ops.train import aws_training
from ops.core import config, state
from ops.deploy import stack as deploy, served_model
from ops.emulator import local_aws
from tests.fixtures.artifact import recorded_artifact
from tests.fixtures.terraform_stack import CLASS_FOLDERS, policy_statements
from training import classmap

pytestmark = pytest.mark.slow


def _role(aws, name: str) -> dict:
    iam = aws("iam")
    names = iam.list_role_policies(RoleName=name)["PolicyNames"]
    return {"inline": {n: iam.get_role_policy(RoleName=name, PolicyName=n)["PolicyDocument"] for n in names},
            "attached": iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"],
            "trust": iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]}


@pytest.fixture(scope="module")
def walk(local_stack_home, aws, tmp_path_factory):
    home, _ = local_stack_home
    running = local_aws.require()
    mp = pytest.MonkeyPatch()
    settings = deploy.Settings(target="local", region=local_aws.REGION)
    runs = {}
    try:
        runs["bootstrap"] = deploy.deploy_training(settings, echo=lambda _: None)
        runs["training_role"] = _role(aws, "dog-breeds-training")
        runs["account"] = aws("sts").get_caller_identity()["Account"]

        # `invoke train --target aws`, the local AWS standing in for the account (boto3 follows
        # AWS_ENDPOINT_URL); config.yaml as shipped: no bucket, no role_arn.
        for name, value in local_aws.client_env(running).items():
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        inputs = tmp_path_factory.mktemp("inputs")
        images, lst_dir = _inputs(inputs)
        cfg = config.load()
        assert cfg.aws["role_arn"] == "" and cfg.aws["bucket"] == ""
        lines = []
        runs["trained"] = aws_training.train_job(cfg, data_dir=images, lst_dir=lst_dir, poll_seconds=0,
                                                 overrides={"instance_count": 1}, echo=lines.append)
        runs["train_lines"] = lines
        runs["job"] = aws("sagemaker").describe_training_job(TrainingJobName=runs["trained"]["job_name"])
        bucket, key = runs["trained"]["s3_uri"][len("s3://"):].split("/", 1)
        aws("s3").put_object(Bucket=bucket, Key=key, Body=recorded_artifact(runs["trained"]["job_name"]))

        # another machine: no record of the training, only the S3 URL
        state.record("artifact", None)
        model = served_model.find_model(runs["trained"]["s3_uri"], s3=served_model.s3_reader("local", local_aws.REGION))
        runs["model"] = model
        runs["deployed"] = deploy.deploy(settings, model, echo=lambda _: None)
        runs["sagemaker_role"] = _role(aws, "dog-breeds-sagemaker")
    finally:
        mp.undo()
        deploy.destroy(settings, keep_bucket=False, auto_approve=True, echo=lambda _: None)
    return runs


def _inputs(folder):
    from training import lst

    images, lst_dir = folder / "Images", folder / "lst"
    entries = []
    for class_id, name in enumerate(CLASS_FOLDERS[:2]):
        (images / name).mkdir(parents=True)
        for i in range(3):
            path = f"{name}/{i}.jpg"
            (images / path).write_bytes(b"photo" * 50)
            entries.append(lst.LstEntry(len(entries), class_id, path))
    lst.write_lst(lst_dir / "dogs_train.lst", [e for e in entries if e.index % 3])
    lst.write_lst(lst_dir / "dogs_test.lst", [e for e in entries if not e.index % 3])
    (lst_dir / classmap.FILENAME).write_text(classmap.to_json(classmap.from_folders(CLASS_FOLDERS[:2])))
    return images, lst_dir


def _actions(statement) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def _resources(statement) -> list[str]:
    return statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]


def test_training_only_apply_makes_the_bucket_and_the_role(walk):
    assert walk["bootstrap"]["training_role_arn"].endswith(":role/dog-breeds-training")
    assert walk["bootstrap"]["bucket_name"] == f"dog-breeds-{walk['account']}-us-east-1"


@pytest.mark.parametrize("role", ["training_role", "sagemaker_role"])
def test_sagemaker_roles_have_no_wildcard_actions_and_trust_only_this_account(walk, role):
    held = walk[role]
    assert held["attached"] == [] and held["inline"]
    for doc in held["inline"].values():
        for st in policy_statements(doc):
            assert st["Effect"] == "Allow" and all("*" not in a for a in _actions(st)), _actions(st)
    [trust] = policy_statements(held["trust"])
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": walk["account"]}
    assert trust["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:sagemaker:us-east-1:{walk['account']}:*"}


def test_training_role_writes_only_output_and_checkpoints(walk):
    statements = [st for doc in walk["training_role"]["inline"].values() for st in policy_statements(doc)]
    bucket = walk["bootstrap"]["bucket_name"]
    writes = [r for st in statements for a in _actions(st) if a in ("s3:PutObject", "s3:DeleteObject")
              for r in _resources(st)]
    assert writes and set(writes) <= {f"arn:aws:s3:::{bucket}/dogs/output/*",
                                      f"arn:aws:s3:::{bucket}/dogs/checkpoints/*"}
    reads = {r for st in statements if "s3:GetObject" in _actions(st) for r in _resources(st)}
    assert f"arn:aws:s3:::{bucket}/dogs/images/*" in reads
    assert all(r.startswith(f"arn:aws:s3:::{bucket}/dogs/") for r in reads)
    pulls = {r for st in statements if "ecr:BatchGetImage" in _actions(st) for r in _resources(st)}
    assert {r.rsplit("/", 1)[-1] for r in pulls} == {"pytorch-training", "image-classification"}
    logs = {r for st in statements if "logs:PutLogEvents" in _actions(st) for r in _resources(st)}
    assert all("/aws/sagemaker/TrainingJobs" in r for r in logs)


def test_train_uses_the_stacks_training_role_without_role_option(walk):
    assert walk["job"]["RoleArn"] == walk["bootstrap"]["training_role_arn"]
    assert walk["job"]["TrainingJobStatus"] == "Completed"
    assert any("the stack's training_role_arn" in line for line in walk["train_lines"])


def test_deploy_with_only_the_s3_artifact_serves_its_record(walk, aws):
    model = walk["model"]
    assert model.model_data_url == walk["trained"]["s3_uri"]
    assert model.model_id == walk["trained"]["job_name"]
    assert model.class_names == [c.name for c in classmap.from_folders(CLASS_FOLDERS)]
    assert walk["deployed"]["model_name"] and walk["deployed"]["training_role_arn"]
