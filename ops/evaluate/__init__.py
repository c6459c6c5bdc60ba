"""Per-breed evaluation reports (`invoke evaluate`): predictions from the API, the endpoint or the model,
metrics from `training.metrics`, with unknown-breed folders the known-breed score's AUROC and rates,
pictures, metrics.json, per_breed.csv and one self-contained report.html."""
