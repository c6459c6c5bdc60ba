"""The examples as committed: the notebook without outputs (they are made when it runs, in CI against the
local stack: tests/ops/test_app_developer_stack.py) and valid; the scripts executable as documented."""
import os

import nbformat

from ops.core.config import PROJECT_ROOT

EXAMPLES = PROJECT_ROOT / "examples"


def test_the_notebook_is_valid_and_has_no_outputs():
    notebook = nbformat.read(EXAMPLES / "try_api.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


def test_the_shell_example_is_executable():
    assert os.access(EXAMPLES / "predict_curl.sh", os.X_OK)
