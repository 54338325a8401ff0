"""Daily bars with adjusted closes from Yahoo Finance through yfinance.

The downloader is injected (default ``yfinance.download``, imported lazily) so tests feed
yfinance-shaped frames. yfinance swallows per-ticker failures (rate limits included) and
returns all-NaN columns for them, so a ticker without rows is retried with backoff and
then reported by name in a :class:`DownloadError` with the last error seen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskalloc.errors import ConfigError, DownloadError, SchemaError
from riskalloc.sources._retry import DateLike, RetryPolicy, group_by_start, to_timestamp
from riskalloc.sources.dates import MARKET_TZ, normalize_dates
from riskalloc.sources.schema import PRICE_COLUMNS, validate_prices

SOURCE_NAME = "yahoo"
# yfinance column name -> our column name
FIELDS: dict[str, str] = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}
log = logging.getLogger(__name__)


def _default_downloader(*args: object, **kwargs: object) -> pd.DataFrame:
    import yfinance  # lazy: importing yfinance costs ~0.4 s and is only needed here

    return yfinance.download(*args, **kwargs)


class _LogCapture(logging.Handler):
    """Collects yfinance's error log lines: download() logs failures instead of raising."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage().strip()
        except Exception:  # a malformed record must not break the download
            return
        if msg and "Failed download" not in msg:
            self.messages.append(msg)


@contextmanager
def _capture_yfinance_errors() -> Iterator[_LogCapture]:
    handler = _LogCapture()
    yf_log = logging.getLogger("yfinance")
    yf_log.addHandler(handler)
    try:
        yield handler
    finally:
        yf_log.removeHandler(handler)


def _daily_dates(index: pd.Index, what: str) -> pd.Series:
    """Calendar dates of daily bars: the exchange-local date for tz-aware stamps."""
    if isinstance(index, pd.DatetimeIndex) and index.tz is not None:
        local = index.tz_localize(None)
        if (local != local.normalize()).any():  # e.g. UTC stamps of New York midnights
            local = index.tz_convert(MARKET_TZ).tz_localize(None)
        index = local
    return normalize_dates(pd.Series(index), what)


def _bars_to_long(bars: pd.DataFrame, ticker: str, what: str) -> pd.DataFrame:
    """Long price rows of one ticker's yfinance bars; rows without a price are dropped."""
    bars = bars.copy()
    bars.columns = [str(c) for c in bars.columns]
    if "Adj Close" in bars.columns:
        adj = bars["Adj Close"]
    elif "Close" in bars.columns:  # auto_adjust=True frames: Close is already adjusted
        adj = bars["Close"]
    else:
        raise SchemaError(
            f"{what}: ticker {ticker!r} has neither 'Adj Close' nor 'Close' "
            f"(columns {list(bars.columns)})"
        )
    out = pd.DataFrame({"date": _daily_dates(bars.index, f"{what} {ticker}")})
    out["ticker"] = ticker
    for yf_name, name in FIELDS.items():
        col = adj if name == "adj_close" else bars.get(yf_name)
        out[name] = np.nan if col is None else col.to_numpy()
    out["source"] = SOURCE_NAME
    return out.loc[out["adj_close"].notna(), list(PRICE_COLUMNS)].reset_index(drop=True)


def parse_download(
    frame: pd.DataFrame | None, tickers: Sequence[str], what: str = "yahoo prices"
) -> dict[str, pd.DataFrame]:
    """Split a ``yfinance.download`` frame into long rows per requested ticker.

    Handles (field, ticker) and (ticker, field) MultiIndex columns and flat single-ticker
    columns; tickers are matched case-insensitively (yfinance upper-cases them). Tickers
    with no priced rows are absent from the result.
    """
    if frame is None or frame.shape[0] == 0 or frame.shape[1] == 0:
        return {}
    by_upper = {t.upper(): t for t in tickers}
    cols = frame.columns
    if not isinstance(cols, pd.MultiIndex):
        if len(tickers) != 1:
            raise SchemaError(
                f"{what}: flat columns {list(map(str, cols))} but {len(tickers)} tickers "
                f"requested ({list(tickers)}); expected (field, ticker) MultiIndex columns"
            )
        rows = _bars_to_long(frame, tickers[0], what)
        return {tickers[0]: rows} if len(rows) else {}
    if cols.nlevels != 2:
        raise SchemaError(f"{what}: expected 2 column levels, got {cols.nlevels}")
    hits = [len(set(map(str, cols.get_level_values(k))) & set(FIELDS)) for k in (0, 1)]
    if max(hits) == 0:
        raise SchemaError(f"{what}: no price fields {list(FIELDS)} in columns {list(cols)[:6]}...")
    ticker_level = 1 if hits[0] >= hits[1] else 0
    out: dict[str, pd.DataFrame] = {}
    for raw in pd.unique(cols.get_level_values(ticker_level)):
        ticker = by_upper.get(str(raw).upper())
        if ticker is None:
            continue
        bars = frame.xs(raw, axis=1, level=ticker_level)
        rows = _bars_to_long(bars, ticker, what)
        if len(rows):
            out[ticker] = rows
    return out


@dataclass(frozen=True)
class YahooSource:
    """Yahoo Finance daily bars (adjusted close included) for a list of tickers.

    ``end`` is inclusive (yfinance's is exclusive). ``since`` maps ticker -> last stored
    date; those tickers are fetched from ``overlap_days`` business days before it.
    """

    downloader: Callable[..., pd.DataFrame] | None = field(default=None, repr=False)
    max_retries: int = 4
    base_delay: float = 2.0
    max_delay: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    timeout: float = 30.0
    overlap_days: int = 5
    default_start: str = "1990-01-01"
    name: str = SOURCE_NAME

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ConfigError(f"yahoo timeout must be > 0 seconds, got {self.timeout!r}")
        if not isinstance(self.overlap_days, int) or self.overlap_days < 0:
            raise ConfigError(f"yahoo overlap_days must be an int >= 0, got {self.overlap_days!r}")
        self.policy  # noqa: B018 - validates the retry settings now

    @property
    def policy(self) -> RetryPolicy:
        """The retry/backoff settings as a :class:`RetryPolicy`."""
        return RetryPolicy(self.max_retries, self.base_delay, 2.0, self.max_delay)

    def fetch_prices(
        self,
        tickers: Sequence[str],
        start: DateLike | None = None,
        end: DateLike | None = None,
        since: Mapping[str, DateLike] | None = None,
    ) -> pd.DataFrame:
        """Long price rows for ``tickers`` from ``start`` to ``end`` (both inclusive)."""
        if tickers is None or isinstance(tickers, str) or len(tickers) == 0:
            raise ConfigError(f"yahoo: give a non-empty list of tickers, got {tickers!r}")
        tickers = list(dict.fromkeys(str(t) for t in tickers))
        last = to_timestamp(end) or pd.Timestamp.today().normalize()
        frames: list[pd.DataFrame] = []
        fetched: list[str] = []
        for first, group in group_by_start(tickers, start, since, self.overlap_days).items():
            first = first if first is not None else to_timestamp(self.default_start)
            if first > last:
                log.info("yahoo: %s already up to date through %s", group, last.date())
                continue
            frames.extend(self._download_group(group, first, last).values())
            fetched.extend(group)
        if not frames:
            return validate_prices(pd.DataFrame(columns=list(PRICE_COLUMNS)), what="yahoo prices")
        return validate_prices(pd.concat(frames, ignore_index=True), fetched, "yahoo prices")

    def _download_group(
        self, tickers: list[str], first: pd.Timestamp, last: pd.Timestamp
    ) -> dict[str, pd.DataFrame]:
        """Download one date window, retrying the tickers that came back without rows."""
        download = self.downloader or _default_downloader
        policy = self.policy
        got: dict[str, pd.DataFrame] = {}
        pending = list(tickers)
        last_error = "no rows returned"
        attempts = policy.max_retries + 1
        for attempt in range(attempts):
            with _capture_yfinance_errors() as logged:
                try:
                    frame = download(
                        pending if len(pending) > 1 else pending[0],
                        start=first.strftime("%Y-%m-%d"),
                        end=(last + pd.Timedelta(days=1)).strftime("%Y-%m-%d"),  # exclusive
                        auto_adjust=False,
                        actions=False,
                        group_by="column",
                        progress=False,
                        threads=False,
                        timeout=self.timeout,
                    )
                except Exception as exc:  # yfinance raises many types (rate limit, HTTP)
                    frame, last_error = None, f"{type(exc).__name__}: {exc}"
                else:
                    if frame is None or frame.shape[0] == 0:
                        last_error = "empty frame returned"
                    else:
                        last_error = "no rows with a price returned"
            if frame is not None:
                for ticker, rows in parse_download(frame, pending).items():
                    rows = rows[(rows["date"] >= first) & (rows["date"] <= last)]
                    if len(rows):
                        got[ticker] = rows
            if logged.messages:
                last_error = "; ".join(logged.messages[-3:])
            pending = [t for t in pending if t not in got]
            if not pending:
                return got
            if attempt + 1 < attempts:
                wait = policy.delay(attempt)
                log.warning(
                    "yahoo: no rows for %s (attempt %d of %d: %s); retrying in %.1f s",
                    pending,
                    attempt + 1,
                    attempts,
                    last_error,
                    wait,
                )
                self.sleep(wait)
        raise DownloadError(
            f"yahoo: no prices for tickers {pending} between {first.date()} and {last.date()} "
            f"after {attempts} attempts; last error: {last_error}. Check the ticker symbols "
            "or retry later (Yahoo rate-limits bursts)"
        )
