"""What the serving stack costs, from its Terraform variables and a small dated price table
(`sagemaker_hosting_prices.yaml`): printed before `invoke deploy --target aws` applies and before
`invoke destroy` removes (what stops billing).

Real-time: instance price x count, per hour and per month, billed while the endpoint exists.
Serverless: nothing while idle; per request, memory x inference seconds at the GB-second price, plus
the Lambda and API Gateway per-request prices; provisioned concurrency bills by the hour.
Per prediction, both from what SageMaker's serving container was measured to do (`serving_measured.yaml`,
written by `benchmarks/container_bench.py --record`, with its date and machine): real-time, the instance
hour over the requests its vCPUs serve in an hour when busy; serverless, memory x seconds per request.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PRICE_TABLE = Path(__file__).with_name("sagemaker_hosting_prices.yaml")
MEASURED = Path(__file__).with_name("serving_measured.yaml")
# Terraform's defaults (terraform/variables.tf: endpoint_type, realtime, serverless, lambda)
DEFAULT_REALTIME = {"instance_type": "ml.m5.large", "initial_instance_count": 1, "max_capacity": 2}
DEFAULT_SERVERLESS = {"memory_size_in_mb": 3072, "provisioned_concurrency": 0}
DEFAULT_LAMBDA_MB = 256


@lru_cache(maxsize=1)
def price_table() -> dict:
    return yaml.safe_load(PRICE_TABLE.read_text())


@lru_cache(maxsize=1)
def measured() -> dict:
    """The serving container's measured figures: seconds_per_request, requests_per_second_per_vcpu,
    and when, where and how they were measured."""
    return yaml.safe_load(MEASURED.read_text())


def measured_source() -> str:
    m = measured()
    return f"measured {m['measured']} on a {m['machine']}, {MEASURED.name}"


def per_million_predictions(seconds_per_request: float, requests_per_second_per_vcpu: float,
                            instance_type: str = DEFAULT_REALTIME["instance_type"],
                            memory_mb: int = DEFAULT_SERVERLESS["memory_size_in_mb"]) -> dict[str, Any]:
    """USD per million predictions: real-time (one busy `instance_type`), serverless (`memory_mb`)."""
    table = price_table()
    per_hour = requests_per_second_per_vcpu * vcpus(instance_type) * 3600
    return {"realtime_instance": instance_type,
            "realtime_usd": round(1e6 * table["realtime"][instance_type] / per_hour, 3),
            "serverless_memory_mb": memory_mb,
            "serverless_usd": round(1e6 * memory_mb / 1024 * seconds_per_request
                                    * table["serverless"]["gb_second"], 3)}


def vcpus(instance_type: str) -> int:
    """The instance type's vCPUs, from the price table beside its price."""
    try:
        return price_table()["vcpus"][instance_type]
    except KeyError:
        raise KeyError(f"no vCPU count for {instance_type} in {PRICE_TABLE.name}") from None


def _source(table: dict) -> str:
    return f"{table['region']} prices as of {table['as_of']}, {PRICE_TABLE.name}"


def describe(values: dict[str, Any], *, seconds_per_request: float | None = None) -> str:
    """One paragraph: what the endpoint these variables describe bills, and how (per request at the
    measured seconds per request unless told otherwise)."""
    table = price_table()
    if seconds_per_request is None:
        seconds_per_request = measured()["seconds_per_request"]
    lambda_mb = (values.get("lambda") or {}).get("memory_size", DEFAULT_LAMBDA_MB)
    per_million = (table["api_gateway_per_million_requests"] + table["lambda_per_million_requests"]
                   + 1e6 * lambda_mb / 1024 * seconds_per_request * table["lambda_gb_second"])
    if values.get("endpoint_type", "serverless") == "realtime":
        text = _realtime(values, table)
    else:
        text = _serverless(values, table, seconds_per_request)
    return (f"{text}; every request also costs the API and its Lambda about ${per_million:.2f} per "
            f"million ({_source(table)})")


def _realtime(values: dict, table: dict) -> str:
    settings = {**DEFAULT_REALTIME, **(values.get("realtime") or {})}
    kind, count = settings["instance_type"], settings["initial_instance_count"]
    price = table["realtime"].get(kind)
    if price is None:
        return f"Endpoint cost: unknown: no price for {kind} in {PRICE_TABLE.name}"
    hour, month = price * count, price * count * table["hours_per_month"]
    most = price * settings["max_capacity"]
    text = (f"Endpoint cost: real-time, {count} x {kind} at ${price:g}/h = ${hour:.3f} per hour, "
            f"${month:,.2f} per month while it stands, requests or not (autoscaling up to "
            f"{settings['max_capacity']}: ${most:.3f}/h)")
    if kind in table["vcpus"]:
        m = measured()
        busy = per_million_predictions(m["seconds_per_request"], m["requests_per_second_per_vcpu"], kind)
        text += (f"; kept busy, ${busy['realtime_usd']:.2f} per million predictions "
                 f"({m['requests_per_second_per_vcpu']:g} per second per vCPU, {measured_source()})")
    return text


def _serverless(values: dict, table: dict, seconds: float) -> str:
    settings = {**DEFAULT_SERVERLESS, **(values.get("serverless") or {})}
    gb = settings["memory_size_in_mb"] / 1024
    prices = table["serverless"]
    per_million = 1e6 * gb * seconds * prices["gb_second"]
    text = (f"Endpoint cost: serverless, {settings['memory_size_in_mb']} MB: nothing while idle; "
            f"${per_million:.2f} per million requests of {seconds * 1000:.1f} ms inference "
            f"({gb:g} GB x ${prices['gb_second']}/GB-s; {measured_source()}) plus ${prices['data_gb']}/GB "
            f"of data in and out")
    provisioned = settings["provisioned_concurrency"]
    if provisioned:
        hour = provisioned * gb * 3600 * prices["provisioned_gb_second"]
        text += (f"; {provisioned} provisioned: ${hour:.3f} per hour, "
                 f"${hour * table['hours_per_month']:,.2f} per month while it stands")
    return text


def stops_billing(values: dict[str, Any], keep_bucket: bool) -> str:
    """What `invoke destroy` ends, and what keeps billing."""
    kept = ("the bucket stays: S3 bills its objects per GB-month until you delete them (destroy "
            "--include-bucket)") if keep_bucket else "the bucket and its objects go too"
    return f"Billing stops for: the endpoint ({describe(values).removeprefix('Endpoint cost: ')}); {kept}"
