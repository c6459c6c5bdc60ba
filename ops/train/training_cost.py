"""What a SageMaker training job may cost, from a small dated price table (`sagemaker_training_prices.yaml`).

The estimate is the ceiling: on-demand hourly price x max runtime x instance count. Early stopping usually
ends a job sooner, and managed spot bills less (a range, since spot prices move).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

PRICE_TABLE = Path(__file__).with_name("sagemaker_training_prices.yaml")


@dataclass(frozen=True)
class CostEstimate:
    instance_type: str
    instance_count: int
    max_runtime_hours: float
    hourly_price: float | None  # on-demand USD per instance-hour; None when the table lacks it
    spot: bool
    table: dict

    @property
    def on_demand(self) -> float | None:
        if self.hourly_price is None:
            return None
        return self.hourly_price * self.max_runtime_hours * self.instance_count

    @property
    def spot_range(self) -> tuple[float, float] | None:
        if self.on_demand is None:
            return None
        low, high = self.table["spot_savings"]
        return self.on_demand * (1 - high), self.on_demand * (1 - low)

    def as_dict(self) -> dict:
        return {"instance_type": self.instance_type, "instance_count": self.instance_count,
                "max_runtime_hours": self.max_runtime_hours, "hourly_price_usd": self.hourly_price,
                "max_on_demand_usd": _round(self.on_demand), "spot": self.spot,
                "spot_range_usd": [_round(v) for v in self.spot_range] if self.spot_range else None,
                "prices": self._source()}

    def _source(self) -> str:
        return f"{self.table['region']} prices as of {self.table['as_of']}, {self.table['source']}"

    def describe(self) -> str:
        where = self._source()
        if self.hourly_price is None:
            return (f"Estimated cost: unknown: no price for {self.instance_type} in "
                    f"{PRICE_TABLE.name} ({where})")
        text = (f"Estimated cost: at most ${self.on_demand:,.2f} on demand = "
                f"${self.hourly_price:g}/h x {self.max_runtime_hours:g} h max runtime x "
                f"{self.instance_count} x {self.instance_type} ({where})")
        if self.spot:
            low, high = self.spot_range
            saving = self.table["spot_savings"]
            text += (f"; with managed spot typically ${low:,.2f}-${high:,.2f} "
                     f"({saving[0]:.0%}-{saving[1]:.0%} less)")
        return text


@lru_cache(maxsize=1)
def price_table() -> dict:
    return yaml.safe_load(PRICE_TABLE.read_text())


def estimate(instance_type: str, instance_count: int, max_runtime_hours: float,
             spot: bool) -> CostEstimate:
    table = price_table()
    return CostEstimate(instance_type, instance_count, max_runtime_hours,
                        table["prices"].get(instance_type), spot, table)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
