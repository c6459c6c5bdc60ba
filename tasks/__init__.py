"""The `invoke` commands (`invoke --list`), one module per stage, gathered in one explicit Collection.

Each task parses its options (tasks/options.py) and calls one library function in ops/; namespaces
(`invoke lst.info`) answer to their default task by the bare name (`invoke lst`).
"""
import sys
from pathlib import Path

# invoke's loader puts this folder itself first on sys.path (for `import sibling`), where
# tasks/training.py would shadow the training package; the tasks import as `tasks.X` and the project's
# packages from the project root, which a tasks.py file used to put there.
_HERE, _ROOT = str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])
sys.path[:] = [_ROOT] + [p for p in sys.path if p not in (_HERE, _ROOT)]

from tasks import bench, ci, containers, data, demo, deployment, evaluation, local_stack, predict, training  # noqa: E402,I001
from tasks import program  # noqa: E402
import invoke.main  # noqa: E402
from invoke import Collection  # noqa: E402
from tasks.training import train, tune  # noqa: E402,F401  (tests call them as tasks.train, tasks.tune)

ns = Collection()
for collection in (data.lst, data.data, local_stack.local, evaluation.evaluate, containers.container):
    ns.add_collection(collection)
for command in (ci.check_config, ci.lint, ci.pr_comment,
                training.train, training.tune,
                deployment.deploy, deployment.plan_, deployment.apply_plan, deployment.destroy,
                deployment.models, deployment.rollback,
                local_stack.serve, predict.predict, demo.demo, bench.bench):
    ns.add_task(command)

# `invoke` in a checkout: invoke's own program, loading this module, takes the documented exit codes
# (a parse error exits 2, not invoke's 1) for the parsing still ahead of it (tasks/program.py).
program.adopt(invoke.main.program)
