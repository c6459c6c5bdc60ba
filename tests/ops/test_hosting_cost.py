"""The endpoint's cost said before deploy and destroy, from the stack's variables and the dated table."""
from __future__ import annotations

import pytest

from ops.deploy import hosting_cost


def test_realtime_is_instance_price_times_count_per_hour_and_month():
    text = hosting_cost.describe({"endpoint_type": "realtime",
                                  "realtime": {"instance_type": "ml.m5.xlarge", "initial_instance_count": 2}})
    # 0.23 $/h x 2 = 0.46 $/h; x 730 h = 335.80 $
    assert "2 x ml.m5.xlarge at $0.23/h = $0.460 per hour, $335.80 per month" in text
    assert "us-east-1 prices as of 2024-06" in text


def test_realtime_defaults_are_terraforms():
    assert "1 x ml.m5.large at $0.115/h = $0.115 per hour, $83.95 per month" in \
        hosting_cost.describe({"endpoint_type": "realtime"})


def test_serverless_bills_per_request_and_nothing_while_idle():
    text = hosting_cost.describe({}, seconds_per_request=1.0)  # the default endpoint type
    # 3 GB x 1 s x 0.00002 $/GB-s x 1e6 = 60.00 $ per million requests
    assert "serverless, 3072 MB: nothing while idle; $60.00 per million requests" in text
    # API Gateway 3.50 + Lambda 0.20 + 0.25 GB x 1 s x 0.0000166667 x 1e6 = 7.87
    assert "about $7.87 per million" in text


def test_the_cost_per_prediction_comes_from_the_measured_figure_with_its_date_and_machine(monkeypatch):
    # Given the serving container measured at 20 ms a request and 25 requests per second per vCPU
    monkeypatch.setattr(hosting_cost, "measured", lambda: {
        "measured": "2026-12-07 21:30", "machine": "2-core AMD EPYC VM, shared",
        "seconds_per_request": 0.02, "requests_per_second_per_vcpu": 25.0})

    serverless = hosting_cost.describe({})
    realtime = hosting_cost.describe({"endpoint_type": "realtime"})

    # Then serverless: 3 GB x 0.02 s x 0.00002 $/GB-s x 1e6 = $1.20 per million requests
    assert "$1.20 per million requests of 20.0 ms inference" in serverless
    # and real-time, kept busy: $0.115 / (25 x 2 vCPUs x 3600 s) x 1e6 = $0.64 per million predictions
    assert "kept busy, $0.64 per million predictions (25 per second per vCPU" in realtime
    for text in (serverless, realtime):
        assert "measured 2026-12-07 21:30 on a 2-core AMD EPYC VM, shared, serving_measured.yaml" in text


def test_the_recorded_measurement_says_when_where_and_how():
    m = hosting_cost.measured()
    assert set(m) >= {"measured", "machine", "command", "model", "seconds_per_request",
                      "requests_per_second_per_vcpu"}
    assert m["measured"].startswith("2026-") and "benchmarks/container_bench.py" in m["command"]
    assert 0 < m["seconds_per_request"] < 1 and m["requests_per_second_per_vcpu"] > 0


def test_provisioned_concurrency_bills_by_the_hour():
    text = hosting_cost.describe({"serverless": {"memory_size_in_mb": 2048, "provisioned_concurrency": 2}})
    # 2 x 2 GB x 3600 s x 0.0000048 = 0.0691 $/h
    assert "2 provisioned: $0.069 per hour" in text


def test_an_unknown_instance_type_says_so():
    text = hosting_cost.describe({"endpoint_type": "realtime", "realtime": {"instance_type": "ml.p5.48xlarge"}})
    assert "unknown: no price for ml.p5.48xlarge" in text


@pytest.mark.parametrize("keep, words", [(True, "the bucket stays: S3 bills"),
                                         (False, "the bucket and its objects go too")])
def test_destroy_says_what_stops_billing(keep, words):
    text = hosting_cost.stops_billing({"endpoint_type": "realtime"}, keep_bucket=keep)
    assert text.startswith("Billing stops for: the endpoint (real-time, 1 x ml.m5.large")
    assert words in text


def test_every_priced_instance_type_has_its_vcpus_beside_its_price():
    table = hosting_cost.price_table()
    assert set(table["vcpus"]) == set(table["realtime"])
    assert (hosting_cost.vcpus("ml.m5.large"), hosting_cost.vcpus("ml.c5.2xlarge")) == (2, 8)
    with pytest.raises(KeyError, match="no vCPU count for ml.p5.48xlarge"):
        hosting_cost.vcpus("ml.p5.48xlarge")


def test_the_int8_benchmarks_cost_reads_vcpus_from_the_price_table(monkeypatch):
    import importlib.util

    from ops.core.config import PROJECT_ROOT

    spec = importlib.util.spec_from_file_location("int8_bench", PROJECT_ROOT / "benchmarks" / "int8_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    table = hosting_cost.price_table()
    # Given a price table that says the default instance has 8 vCPUs at $0.36/h
    kind = hosting_cost.DEFAULT_REALTIME["instance_type"]
    changed = {**table, "realtime": {**table["realtime"], kind: 0.36}, "vcpus": {**table["vcpus"], kind: 8}}
    monkeypatch.setattr(hosting_cost, "price_table", lambda: changed)

    cost = bench.cost_per_million(10.0)  # 10 predictions per second per core

    # Then 8 x 10 x 3600 = 288,000 predictions an hour cost $0.36: $1.25 per million
    assert cost["realtime_vcpus"] == 8 and cost["realtime_usd"] == pytest.approx(1.25)


def test_the_price_tables_vcpus_agree_with_terraforms():
    """Terraform sizes the workers from its own vCPU table; the cost figures read the YAML one."""
    import re

    from ops.core.config import PROJECT_ROOT

    text = (PROJECT_ROOT / "terraform" / "instance_types.tf").read_text()
    block = text[text.index("realtime_instance_vcpus"):]
    terraform = {t: int(n) for t, n in re.findall(r'"(ml\.[\w.]+)"\s*=\s*(\d+)', block[:block.index("}")])}
    assert len(terraform) > 10
    shared = set(terraform) & set(hosting_cost.price_table()["vcpus"])
    assert "ml.m5.large" in shared
    assert {t: terraform[t] for t in shared} == {t: hosting_cost.vcpus(t) for t in shared}
