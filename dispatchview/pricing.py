"""Dollar estimates of an electron's compute: a small table of AWS's published Fargate rates.

Source: AWS Fargate pricing, https://aws.amazon.com/fargate/pricing/ (Linux/x86, On-Demand, per
vCPU-hour and per GB-hour of memory), recorded 2026-12-01. These four regions share the rate AWS
has published since its January 2019 price cut; other regions, other partitions, Linux/ARM,
Windows and Fargate Spot are not in the table: set ``fargate_vcpu_hour_usd`` and
``fargate_gb_hour_usd`` in [executors.awsbatch] for them, or to override these. EC2 compute is
billed per instance, not per job: ``ec2_vcpu_hour_usd`` (your instance price divided by its
vCPUs) turns an EC2 electron's vCPU-seconds into an estimate; without it there is none.

Every figure here is an estimate: it multiplies requested resources by the attempts' running time
as Batch records it, while Fargate bills from the image pull on, per second with a one-minute
minimum, and an EC2 instance costs what it costs whether jobs fill it or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from covalent_eventbatch.executor.settings import ExecutorSettings

PRICES_RECORDED = "2026-12-01"
PRICES_SOURCE = "https://aws.amazon.com/fargate/pricing/"
# region -> (USD per vCPU-hour, USD per GB-hour), Linux/x86 On-Demand.
FARGATE_RATES: dict[str, tuple[float, float]] = {
    "us-east-1": (0.04048, 0.004445),
    "us-east-2": (0.04048, 0.004445),
    "us-west-2": (0.04048, 0.004445),
    "eu-west-1": (0.04048, 0.004445),
}


@dataclass(frozen=True)
class Prices:
    """The rates that apply to one region; None where no price is known."""

    fargate_vcpu_hour: float | None
    fargate_gb_hour: float | None
    ec2_vcpu_hour: float | None
    note: str

    @classmethod
    def for_region(cls, settings: ExecutorSettings, region: str) -> Prices:
        table = FARGATE_RATES.get(region)
        vcpu = settings.fargate_vcpu_hour_usd or (table[0] if table else None)
        gb = settings.fargate_gb_hour_usd or (table[1] if table else None)
        if settings.fargate_vcpu_hour_usd or settings.fargate_gb_hour_usd:
            fargate = "Fargate: your fargate_*_hour_usd settings"
        elif table:
            fargate = f"Fargate: AWS's Linux/x86 rate for {region} ({PRICES_RECORDED})"
        else:
            fargate = f"Fargate: no published rate for {region} here; set fargate_*_hour_usd"
        ec2 = settings.ec2_vcpu_hour_usd or None
        ec2_note = "EC2: your ec2_vcpu_hour_usd" if ec2 else "EC2: set ec2_vcpu_hour_usd"
        return cls(vcpu, gb, ec2, f"{fargate}; {ec2_note}")

    def estimate(self, usage: dict[str, Any] | None, platform: str) -> float | None:
        """USD for these resource-seconds on this platform; None without a price."""
        if not usage:
            return None
        if (usage.get("platform") or platform) == "FARGATE":
            if self.fargate_vcpu_hour is None or self.fargate_gb_hour is None:
                return None
            return round(
                usage["vcpu_seconds"] / 3600 * self.fargate_vcpu_hour
                + usage["gib_seconds"] / 3600 * self.fargate_gb_hour,
                6,
            )
        if self.ec2_vcpu_hour is None:
            return None
        return round(usage["vcpu_seconds"] / 3600 * self.ec2_vcpu_hour, 6)
