"""A model per breed on a test LST: `invoke evaluate` (run) and `invoke evaluate.compare A B`."""
from __future__ import annotations

from invoke import Collection

from tasks import options
from tasks.command import command


@command(name="run", default=True, iterable=["compare", "unknown_data"], auto_shortflags=False, parse={
    "workers": options.COUNT, "batch_size": options.COUNT, "worst": options.Integer(0),
    "min_confidence": options.Number(0, 1), "target": options.TARGET}, help={
    "lst": "the test LST file (e.g. out/lst/dogs_test.lst)",
    "data": "the images root the LST paths are relative to (one folder per breed)",
    "out": "the report folder (default: .dogs/reports/<LST name>-<via>)",
    "via": "where predictions come from: model (the artifact in-process, default), endpoint "
           "(SageMaker runtime) or api (POST <url>/predict)",
    "model": "--via model only",
    "url": "--via api: the API's base URL, e.g. https://.../beta (default: $DOGS_API_URL, else "
           "the deployment's, as for `invoke predict`)",
    "api_key": "--via api: the API key sent as x-api-key (default: $DOGS_API_KEY, else the "
               "deployment's Terraform output)",
    "target": "--via api: which deployment supplies the URL and key (local: `invoke serve`)",
    "unknown_data": "a folder of photos of breeds the model does not know (any depth; repeat it or "
                    "give a comma list): adds the known-breed score's AUROC and the rates at the "
                    "stored threshold",
    "endpoint": "--via endpoint: the SageMaker endpoint name "
                "(AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME may point at the local one)",
    "model_id": "--via endpoint: the model id to key the prediction cache by "
                "(default: endpoint:<name>)",
    "classes": "the class map (default: the model's, else classes.json beside the LST)",
    "workers": "concurrent requests (api, endpoint; default 4) or model threads (default: the "
               "CPU count)",
    "batch_size": "images per request (default: 8 for api and model; the endpoint takes 1)",
    "worst": "how many worst breeds to analyse (default 5)",
    "min_confidence": "suspected label error: another breed predicted with at least this "
                      "probability (default 0.5)",
    "cache": "the prediction cache (default: .dogs/eval-cache.sqlite)",
    "compare": "compare two report folders instead: --compare A --compare B (deltas B - A)",
    "no_progress": "no progress bar",
})
def evaluate_run(c, lst=None, data=None, out=None, via="model", model=None, url=None, api_key=None,
                 endpoint=None, model_id=None, classes=None, workers=None, batch_size=8, worst=5,
                 min_confidence="0.5", cache=None, compare=None, no_progress=False, target="local",
                 unknown_data=None):
    """Evaluate a model per breed on a test LST: metrics.json, per_breed.csv, plots, report.html."""
    if compare:
        from ops.evaluate import compare as cmp

        return cmp.compare_folders(compare, out)
    from ops.evaluate import console, run

    source_options = {"model": model, "url": url, "api_key": api_key, "endpoint": endpoint,
                      "model_id": model_id, "batch_size": batch_size, "target": target}
    unknown = [f.strip() for item in unknown_data or [] for f in item.split(",") if f.strip()]
    report, out = run.evaluate_via(lst, data, out, via, source_options=source_options, workers=workers,
                                   classes=classes, cache=cache, unknown=unknown,
                                   options=run.Options(worst=worst, min_confidence=min_confidence,
                                                       progress=not no_progress))
    console.print_report(report, out)


@command(name="compare", positional=["a", "b"], help={
    "a": "the baseline report folder", "b": "the report folder to compare with it",
    "out": "where compare.json, compare.csv and compare.html go (default: B)"})
def evaluate_compare(c, a, b, out=None):
    """Compare two evaluation reports per breed (deltas B - A)."""
    from ops.evaluate import compare as cmp

    cmp.compare_folders([a, b], out)


evaluate = Collection("evaluate", evaluate_run, evaluate_compare)
evaluate.default = "run"
