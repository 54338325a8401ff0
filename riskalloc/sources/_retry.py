"""Retry with exponential backoff, and incremental fetch windows, for the remote sources.

Both are shared by :mod:`riskalloc.sources.yahoo` and :mod:`riskalloc.sources.fred`; the
sleep function is injected so tests never really wait.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

import pandas as pd

from riskalloc.errors import ConfigError, SchemaError
from riskalloc.sources.dates import parse_date

T = TypeVar("T")
log = logging.getLogger(__name__)

DateLike = str | date | pd.Timestamp


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait: delay(k) = min(max_delay, base_delay * multiplier**k).

    ``max_retries`` counts the retries after the first attempt, so there are at most
    ``max_retries + 1`` attempts.
    """

    max_retries: int = 4
    base_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(f"max_retries must be an integer >= 0, got {self.max_retries!r}")
        if not self.base_delay >= 0:
            raise ConfigError(f"base_delay must be >= 0 seconds, got {self.base_delay!r}")
        if not self.multiplier >= 1:
            raise ConfigError(f"multiplier must be >= 1, got {self.multiplier!r}")
        if not self.max_delay >= self.base_delay:
            raise ConfigError(
                f"max_delay ({self.max_delay!r}) must be >= base_delay ({self.base_delay!r})"
            )

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        return float(min(self.max_delay, self.base_delay * self.multiplier**retry))


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    retryable: Callable[[Exception], bool] = lambda exc: True,
    describe: Callable[[Exception], str] = str,
    what: str = "request",
) -> T:
    """Call ``fn`` until it returns, retrying retryable exceptions with backoff.

    The last exception is re-raised unchanged once retries are exhausted or when it is
    not retryable; ``describe`` renders it for the log (use it to scrub secrets).
    """
    for attempt in range(policy.max_retries + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt >= policy.max_retries or not retryable(exc):
                raise
            wait = policy.delay(attempt)
            log.warning(
                "%s failed (attempt %d of %d): %s; retrying in %.1f s",
                what,
                attempt + 1,
                policy.max_retries + 1,
                describe(exc),
                wait,
            )
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def to_timestamp(value: DateLike | None) -> pd.Timestamp | None:
    """A tz-naive midnight timestamp, or None; strings must be ISO dates (or YYYYMMDD)."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp | date) and not isinstance(value, str):
        ts = pd.Timestamp(value)
        return (ts.tz_localize(None) if ts.tzinfo is not None else ts).normalize()
    try:
        return parse_date(value, "date")
    except SchemaError as exc:
        raise ConfigError(str(exc)) from None


def incremental_start(
    start: DateLike | None, last_stored: DateLike | None, overlap_bdays: int
) -> pd.Timestamp | None:
    """First date to fetch: ``overlap_bdays`` business days before the last stored date.

    The overlap re-fetches recent rows so late corrections and revisions are picked up;
    the warehouse upsert makes those re-writes idempotent. Never earlier than ``start``.
    """
    start_ts = to_timestamp(start)
    if last_stored is None:
        return start_ts
    resume = to_timestamp(last_stored) - pd.offsets.BDay(overlap_bdays)
    return resume if start_ts is None else max(start_ts, resume)


def group_by_start(
    keys: Iterable[str],
    start: DateLike | None,
    since: Mapping[str, DateLike] | None,
    overlap_bdays: int,
) -> dict[pd.Timestamp | None, list[str]]:
    """Keys (tickers or series) grouped by their incremental start date, in input order."""
    if overlap_bdays < 0:
        raise ConfigError(f"overlap must be >= 0 business days, got {overlap_bdays!r}")
    groups: dict[pd.Timestamp | None, list[str]] = {}
    for key in keys:
        first = incremental_start(start, (since or {}).get(key), overlap_bdays)
        groups.setdefault(first, []).append(key)
    return groups


def no_rows_message(
    what: str,
    kind: str,
    absent: Sequence[str],
    start: DateLike | None,
    end: DateLike | None,
    since: Mapping[str, DateLike] | None,
    overlap_bdays: int,
    held: Mapping[str, str] | None = None,
) -> str:
    """Why ``absent`` keys have no rows: the window asked for, start after end, last stored."""
    last = to_timestamp(end)
    parts = []
    for k in list(absent)[:5]:
        stored = (since or {}).get(k)
        first = incremental_start(start, stored, overlap_bdays)
        window = f"{first.date() if first is not None else 'the first date'} to "
        window += f"{last.date() if last is not None else 'the last date'}"
        why = f"{k}: window {window}"
        if stored is not None:
            why += f" (incremental: last stored {to_timestamp(stored).date()})"
        if first is not None and last is not None and first > last:
            why += ", which starts after it ends"
        if held and k in held:
            why += f"; {held[k]}"
        parts.append(why)
    more = f" (+{len(absent) - 5} more)" if len(absent) > 5 else ""
    names = list(absent)[:10] + ([f"+{len(absent) - 10} more"] if len(absent) > 10 else [])
    return f"{what}: no rows for {kind} {names} in the requested window: " + (
        "; ".join(parts) + more
    )
