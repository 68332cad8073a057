# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""datamover_plan_only's estimates: what a migration's requests and storage cost at prices the
user gives (none are built in: they differ by store, region, tier and contract and change),
and how long it takes at a throughput the user gives. Checked by preflight, computed by the
report from the plan-only survey."""
from __future__ import annotations

import math

GIB = 1 << 30  # AWS and OCI bill storage by the GB-month of 2^30 bytes
PRICE_KEYS = {
    "per_1000_writes": "PUT, multipart initiate, part and complete requests, per 1,000",
    "per_1000_lists": "listing requests, per 1,000",
    "per_gb_month": "storage, per GB (2^30 bytes) per month",
}
RATE_KEYS = ("bytes_per_second", "files_per_second")


def _number(value):
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def estimate_problems(estimate):
    """Why ``estimate`` ({"prices": {...}, "bytes_per_second": x, "files_per_second": y})
    cannot be used, as sentences (empty: it can)."""
    estimate = estimate or {}
    problems = []
    unknown = sorted(set(estimate) - set(RATE_KEYS) - {"prices"})
    if unknown:
        problems.append("estimate: unknown key(s) %s" % ", ".join(unknown))
    for key in RATE_KEYS:
        if estimate.get(key) not in (None, "") and _number(estimate[key]) is None:
            problems.append("datamover_plan_%s=%r: give a number of 0 or more (0: no time "
                            "estimate)" % (key, estimate[key]))
    prices = estimate.get("prices") or {}
    if not isinstance(prices, dict):
        return problems + ["datamover_prices must be a mapping, e.g. {currency: USD, "
                           "per_1000_writes: 0.005, per_1000_lists: 0.005, per_gb_month: 0.023}"]
    for key, value in sorted(prices.items()):
        if key == "currency":
            if not isinstance(value, str) or not value.strip():
                problems.append("datamover_prices.currency=%r: give a currency name, e.g. USD"
                                % (value,))
        elif key not in PRICE_KEYS:
            problems.append("datamover_prices.%s is not a price this collection knows: use %s "
                            "(and currency)" % (key, ", ".join(sorted(PRICE_KEYS))))
        elif _number(value) is None:
            problems.append("datamover_prices.%s=%r: give a price of 0 or more" % (key, value))
    return problems


def write_requests(requests):
    """PUTs, multipart parts, and an initiate and a complete per multipart upload."""
    return requests["put"] + requests["parts"] + 2 * requests["multipart_uploads"]


def cost(requests, stored_bytes, prices):
    """The store's bill for these requests and one month of ``stored_bytes``, by line (only the
    prices given), or None without prices."""
    prices = prices or {}
    if not any(k in prices for k in PRICE_KEYS):
        return None
    lines = {}
    if "per_1000_writes" in prices:
        lines["writes"] = write_requests(requests) / 1000.0 * float(prices["per_1000_writes"])
    if "per_1000_lists" in prices:
        lines["lists"] = requests["list"] / 1000.0 * float(prices["per_1000_lists"])
    if "per_gb_month" in prices:
        lines["storage_per_month"] = stored_bytes / float(GIB) * float(prices["per_gb_month"])
    once = lines.get("writes", 0.0) + lines.get("lists", 0.0)
    return {"currency": prices.get("currency") or "",
            "lines": {k: round(v, 4) for k, v in lines.items()},
            "requests_once": round(once, 4), "prices": dict(prices)}


def duration(files, nbytes, estimate):
    """Seconds the moving takes at the given rates (the slower of the two bounds), or None."""
    estimate = estimate or {}
    bounds = {}
    for key, amount in (("bytes_per_second", nbytes), ("files_per_second", files)):
        rate = _number(estimate.get(key)) or 0.0
        if rate > 0:
            bounds[key] = amount / rate
    if not bounds:
        return None
    bound = max(bounds, key=bounds.get)
    return {"seconds": round(bounds[bound], 1), "bound_by": bound,
            "rates": {k: float(estimate[k]) for k in bounds}}
