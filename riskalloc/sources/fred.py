"""Macro series from FRED through fredapi, point in time, with the API key kept secret.

fredapi puts the key in the request URL and calls ``urlopen`` without a timeout, so the
request is made by a small :class:`fredapi.Fred` subclass that adds a timeout and keeps
the HTTP status (429/5xx are retried with backoff, 4xx are not). The key never appears in
reprs, log lines, exceptions (their text is scrubbed and the cause chain dropped) or
returned frames.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
from fredapi import Fred

from riskalloc.errors import ConfigError, DownloadError
from riskalloc.sources._retry import (
    DateLike,
    RetryPolicy,
    call_with_retry,
    incremental_start,
    to_timestamp,
)
from riskalloc.sources.schema import MACRO_COLUMNS, next_business_day, validate_macro
from riskalloc.universe import SERIES_PATTERN

SOURCE_NAME = "fred"
KEY_ENV = "FRED_API_KEY"
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
KEY_PATTERN = re.compile(r"[A-Za-z0-9]{32}")  # FRED keys: 32 alphanumeric characters


def scrub_secret(text: str, secret: str) -> str:
    """``text`` with every encoding of ``secret`` replaced by ``***``.

    Covers the raw string, its escaped repr (how ``http.client`` echoes a bad URL), its
    percent-encodings, JSON form and any letter case.
    """
    if not secret:
        return text
    forms = {
        secret,
        repr(secret)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
        json.dumps(secret)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
    }
    forms |= {f.replace("%", "%25") for f in set(forms)}  # double-encoded
    pattern = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True) if f)
    return re.sub(pattern, "***", text, flags=re.IGNORECASE)


class FredHTTPError(Exception):
    """An HTTP error answer from FRED, with its status code and FRED's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class _TimedFred(Fred):
    """fredapi's client with a request timeout and HTTP status codes kept."""

    def __init__(self, api_key: str, timeout: float, root_url: str | None) -> None:
        super().__init__(api_key=api_key)
        self._timeout = timeout
        if root_url is not None:
            self.root_url = root_url.rstrip("/")

    def _Fred__fetch_data(self, url: str) -> ET.Element:  # overrides Fred.__fetch_data
        url += "&api_key=" + self.api_key
        failure: FredHTTPError | None = None
        try:
            with urllib.request.urlopen(url, timeout=self._timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            try:
                message = ET.fromstring(exc.read()).get("message") or exc.reason
            except Exception:
                message = exc.reason
            failure = FredHTTPError(exc.code, str(message))
        if failure is not None:  # raised outside `except`: no context holding the URL/key
            raise failure
        return ET.fromstring(body)


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, FredHTTPError):
        return exc.status in RETRY_STATUS
    # timeouts, refused/reset connections, truncated bodies
    return isinstance(exc, (TimeoutError, socket.timeout, OSError, ET.ParseError))


@dataclass(frozen=True)
class FredSource:
    """FRED daily series as long macro rows; ``available_at`` = the next business day.

    ``api_key`` falls back to the ``FRED_API_KEY`` environment variable at fetch time.
    ``root_url`` overrides fredapi's (tests point it at a loopback server).
    """

    api_key: str | None = field(default=None, repr=False)
    root_url: str | None = None
    timeout: float = 30.0
    max_retries: int = 4
    base_delay: float = 2.0
    max_delay: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    overlap_days: int = 10
    name: str = SOURCE_NAME

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ConfigError(f"fred timeout must be > 0 seconds, got {self.timeout!r}")
        if not isinstance(self.overlap_days, int) or self.overlap_days < 0:
            raise ConfigError(f"fred overlap_days must be an int >= 0, got {self.overlap_days!r}")
        self.policy  # noqa: B018 - validates the retry settings now

    @property
    def policy(self) -> RetryPolicy:
        """The retry/backoff settings as a :class:`RetryPolicy`."""
        return RetryPolicy(self.max_retries, self.base_delay, 2.0, self.max_delay)

    def _key(self) -> str:
        key = self.api_key if self.api_key is not None else os.environ.get(KEY_ENV)
        if key is None or not key.strip():
            raise ConfigError(
                f"fred: no API key; set the {KEY_ENV} environment variable (free key at "
                "https://fred.stlouisfed.org/docs/api/api_key.html) or use --source sample"
            )
        key = key.strip()
        if not KEY_PATTERN.fullmatch(key):  # never echo it: it may be a real key, mistyped
            odd = sum(not c.isascii() or not c.isalnum() for c in key)
            raise ConfigError(
                f"fred: the API key ({KEY_ENV} or api_key) is malformed: a FRED key is "
                f"32 letters and digits, this one has {len(key)} characters, {odd} of them "
                "not letters or digits (tabs, newlines, quotes?); check how it was set"
            )
        return key

    def _scrub(self, text: str, key: str) -> str:
        return scrub_secret(text, key)

    def fetch_macro(
        self,
        series_ids: Sequence[str],
        start: DateLike | None = None,
        end: DateLike | None = None,
        since: Mapping[str, DateLike] | None = None,
    ) -> pd.DataFrame:
        """Long macro rows for ``series_ids`` from ``start`` to ``end`` (both inclusive).

        FRED's missing markers ('.') are dropped. Series in ``since`` are fetched from
        ``overlap_days`` business days before their last stored date to pick up revisions.
        """
        if series_ids is None or isinstance(series_ids, str) or len(series_ids) == 0:
            raise ConfigError(f"fred: give a non-empty list of series ids, got {series_ids!r}")
        bad = [str(i)[:40] for i in series_ids if not SERIES_PATTERN.fullmatch(str(i))]
        if bad:  # they go into the request URL next to the key
            raise ConfigError(f"fred: malformed series ids {bad}; use letters, digits, _ . -")
        key = self._key()
        client = _TimedFred(key, self.timeout, self.root_url)
        last = to_timestamp(end)
        frames: list[pd.DataFrame] = []
        for series_id in dict.fromkeys(str(s) for s in series_ids):
            first = incremental_start(start, (since or {}).get(series_id), self.overlap_days)
            frames.append(self._fetch_one(client, key, series_id, first, last))
        return validate_macro(pd.concat(frames, ignore_index=True), series_ids, "fred macro")

    def _fetch_one(
        self,
        client: _TimedFred,
        key: str,
        series_id: str,
        first: pd.Timestamp | None,
        last: pd.Timestamp | None,
    ) -> pd.DataFrame:
        window = f"{first.date() if first is not None else 'start'} to "
        window += f"{last.date() if last is not None else 'latest'}"

        def describe(exc: Exception) -> str:
            return self._scrub(f"{type(exc).__name__}: {exc}", key)

        error: str | None = None
        try:
            values = call_with_retry(
                lambda: client.get_series(series_id, observation_start=first, observation_end=last),
                self.policy,
                self.sleep,
                retryable=_retryable,
                describe=describe,
                what=f"fred {series_id}",
            )
        except Exception as exc:
            error = describe(exc)
        if error is not None:  # raised outside `except`: the chained errors may hold the key
            raise DownloadError(f"fred: series {series_id!r} ({window}) failed: {error}")
        values = pd.to_numeric(pd.Series(values, dtype="object"), errors="coerce").dropna()
        if values.empty:
            raise DownloadError(f"fred: series {series_id!r} has no observations ({window})")
        out = pd.DataFrame({"date": pd.to_datetime(values.index), "value": values.to_numpy()})
        out["series_id"] = series_id
        out["available_at"] = next_business_day(out["date"])
        out["source"] = SOURCE_NAME
        return out.loc[:, list(MACRO_COLUMNS)]
