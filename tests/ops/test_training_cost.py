import pytest

from ops.core import config
from ops.train import training_cost


@pytest.mark.parametrize("instance, count, hours, expected", [
    ("ml.p2.xlarge", 2, 2.7, 6.08),      # the original's run: 2.7 h on 2 x ml.p2.xlarge
    ("ml.g4dn.xlarge", 2, 4, 5.89),
    ("ml.p3.2xlarge", 1, 0.5, 1.91),
], ids=["original", "default", "half-hour"])
def test_ceiling_is_price_times_runtime_times_count(instance, count, hours, expected):
    estimate = training_cost.estimate(instance, count, hours, spot=False)
    assert round(estimate.on_demand, 2) == expected
    assert estimate.as_dict()["max_on_demand_usd"] == expected
    assert "managed spot" not in estimate.describe()


def test_spot_range_is_the_table_savings_off_on_demand():
    estimate = training_cost.estimate("ml.g4dn.xlarge", 1, 10, spot=True)
    low, high = estimate.spot_range
    assert (round(low, 2), round(high, 2)) == (0.74, 2.94)  # 90% and 60% off $7.36
    assert "with managed spot typically $0.74-$2.94 (60%-90% less)" in estimate.describe()


def test_unknown_instance_is_reported_as_unknown():
    estimate = training_cost.estimate("ml.trn1.32xlarge", 1, 1, spot=True)
    assert estimate.on_demand is None and estimate.spot_range is None
    assert estimate.describe().startswith("Estimated cost: unknown: no price for ml.trn1.32xlarge")


def test_price_table_is_dated_sourced_and_well_formed():
    table = training_cost.price_table()
    assert table["as_of"] and table["source"].startswith("https://aws.amazon.com/sagemaker/pricing")
    for instance, price in table["prices"].items():
        assert config.AWS_KEYS["instance_type"][1](instance), instance
        assert 0 < price < 100
