"""A per-client rate limit for ``/ask``: ``QA_RATE_LIMIT="60/minute"`` (off when unset or "0").

A token bucket per client address (GCRA): a client may send a burst of up to N requests, then one more
each period/N; past that it gets a 429 with ``Retry-After``. The buckets live in the process: under
gunicorn each worker keeps its own, so with W workers a client gets at most W times the limit (the
kernel spreads connections over the workers). The table of addresses is bounded (``max_clients``):
full buckets are forgotten first, then the oldest.
"""
from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

DURATION_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "mins": 60, "minute": 60,
                  "minutes": 60, "h": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400, "days": 86400}
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class Rate:
    requests: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.requests} per {self.seconds:g} s"


def parse_rate(spec: str | None) -> Rate | None:
    """"60/minute", "10/second", "1000/hour", "100/15m" -> Rate; None, "" or "0" -> None (no limit)."""
    if spec is None or spec.strip() in ("", "0", "off", "none"):
        return None
    m = _SPEC.match(spec.lower())
    if not m or m.group(3) not in DURATION_UNITS:
        raise ValueError("is not a rate: write it like 60/minute, 10/second, 1000/hour or 100/15m "
                         "(0 or unset turns the limit off)")
    n, multiple = int(m.group(1)), int(m.group(2) or 1)
    if n == 0:
        return None
    if multiple == 0:
        raise ValueError("has a period of 0: it must be longer")
    return Rate(n, multiple * DURATION_UNITS[m.group(3)])


class RateLimiter:
    """Thread-safe token buckets keyed by client; :meth:`hit` says whether a request may go on."""

    def __init__(self, rate: Rate, max_clients: int = 10_000, clock=time.monotonic):
        self.rate = rate
        self.interval = rate.seconds / rate.requests  # one token comes back every interval
        self.burst = rate.seconds  # the bucket holds N tokens = N intervals
        self.max_clients = max_clients
        self._clock = clock
        self._tat: OrderedDict[str, float] = OrderedDict()  # theoretical arrival time per client
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Count one request of ``key``: 0.0 when it is allowed, else the seconds until it would be."""
        now = self._clock()
        with self._lock:
            tat = max(self._tat.get(key, now), now)
            new_tat = tat + self.interval
            if new_tat - now > self.burst + 1e-9:
                return new_tat - self.burst - now
            self._tat[key] = new_tat
            self._tat.move_to_end(key)
            if len(self._tat) > self.max_clients:
                self._forget(now)
            return 0.0

    def retry_after(self, wait: float) -> int:
        return max(1, math.ceil(wait))

    def _forget(self, now: float) -> None:
        """Drop clients whose bucket is full again (same as never seen), then the oldest if still too many."""
        for key in [k for k, tat in self._tat.items() if tat <= now]:
            del self._tat[key]
        while len(self._tat) > self.max_clients:
            self._tat.popitem(last=False)

    def __len__(self) -> int:
        return len(self._tat)
