"""Fixtures for the source tests: a loopback FRED server and yfinance-shaped frames."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest

FRED_KEY = "abcdef0123456789abcdef0123456789"  # 32 lower-case alphanumerics, like a real key

# (date, value) as FRED serves them; '.' is FRED's missing marker (2020-01-20: MLK day)
FRED_DATA: dict[str, list[tuple[str, str]]] = {
    "VIXCLS": [
        ("2020-01-17", "12.10"),
        ("2020-01-20", "."),
        ("2020-01-21", "12.85"),
        ("2020-03-12", "75.47"),
        ("2020-03-13", "57.83"),
        ("2020-03-16", "82.69"),
        ("2020-03-17", "75.91"),
    ],
    "DGS10": [
        ("2020-01-17", "1.84"),
        ("2020-01-20", "."),
        ("2020-01-21", "1.78"),
        ("2020-03-13", "0.94"),
        ("2020-03-16", "0.73"),
    ],
}


def observations_xml(rows: list[tuple[str, str]], start: str, end: str) -> bytes:
    """FRED's /fred/series/observations answer in XML (the format fredapi parses)."""
    rt = "2024-01-05"
    head = (
        f'<observations realtime_start="{rt}" realtime_end="{rt}" observation_start="{start}" '
        f'observation_end="{end}" units="lin" output_type="1" file_type="xml" '
        f'order_by="observation_date" sort_order="asc" count="{len(rows)}" offset="0" '
        'limit="100000">'
    )
    body = "".join(
        f'\n  <observation realtime_start="{rt}" realtime_end="{rt}" date="{d}" value="{v}"/>'
        for d, v in rows
    )
    return f'<?xml version="1.0" encoding="utf-8" ?>\n{head}{body}\n</observations>\n'.encode()


def error_xml(code: int, message: str) -> bytes:
    """FRED's error answer."""
    return (
        f'<?xml version="1.0" encoding="utf-8" ?>\n<error code="{code}" message="{message}"/>\n'
    ).encode()


class FakeFred:
    """A FRED API stand-in on 127.0.0.1; queue failures with :meth:`fail`."""

    def __init__(self, key: str = FRED_KEY) -> None:
        self.key = key
        self.data = {k: list(v) for k, v in FRED_DATA.items()}
        self.failures: list[str] = []
        self.requests: list[dict[str, str]] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/fred"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def fail(self, mode: str, times: int = 1) -> None:
        """Answer the next ``times`` requests with '429', '500', 'hang', 'echo_key' or
        'echo_key_upper' (400)."""
        self.failures.extend([mode] * times)

    def _answer(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        with self.lock:
            self.requests.append(query)
            mode = self.failures.pop(0) if self.failures else None
        if mode == "hang":
            self.release.wait(10)
            return 500, error_xml(500, "Internal Server Error")
        if mode in ("429", "500"):
            text = "Too Many Requests.  Exceeded Rate Limit" if mode == "429" else "Server Error"
            return int(mode), error_xml(int(mode), text)
        if mode == "echo_key":
            return 400, error_xml(400, f"Bad Request.  api_key {query.get('api_key')} rejected")
        if mode == "echo_key_upper":  # an error page that shouts the key back
            key = str(query.get("api_key")).upper()
            return 400, error_xml(400, f"Bad Request.  API_KEY={key} is not registered")
        if path != "/fred/series/observations":
            return 404, error_xml(404, "Not Found")
        if query.get("api_key") != self.key:
            return 400, error_xml(
                400, "Bad Request.  The value for variable api_key is not registered."
            )
        rows = self.data.get(query.get("series_id", ""))
        if rows is None:
            return 400, error_xml(400, "Bad Request.  The series does not exist.")
        start = query.get("observation_start", "1776-07-04")
        end = query.get("observation_end", "9999-12-31")
        return 200, observations_xml([r for r in rows if start <= r[0] <= end], start, end)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                status, body = fake._answer(parts.path, query)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/xml; charset=UTF-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, format: str, *args: object) -> None:  # quiet; URLs hold keys
                return

        return Handler

    def __enter__(self) -> FakeFred:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxies from the environment would route loopback requests elsewhere."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fred_server() -> Iterator[FakeFred]:
    with FakeFred() as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    """Collects the backoff delays instead of sleeping."""
    return []


def bars(
    dates: list[str], close: list[float], adj_ratio: float = 0.9, tz: str | None = None
) -> pd.DataFrame:
    """One ticker's daily bars as yfinance's history() returns them (auto_adjust=False)."""
    c = np.asarray(close, dtype=float)
    idx = pd.DatetimeIndex(pd.to_datetime(dates), name="Date")
    if tz is not None:
        idx = idx.tz_localize(tz)
    return pd.DataFrame(
        {
            "Open": c * 0.99,
            "High": c * 1.01,
            "Low": c * 0.98,
            "Close": c,
            "Adj Close": c * adj_ratio,
            "Volume": np.arange(1, len(c) + 1) * 1000.0,
        },
        index=idx,
    )


def yf_download_frame(
    per_ticker: dict[str, pd.DataFrame | None], group_by: str = "column", ignore_tz: bool = True
) -> pd.DataFrame:
    """Combine per-ticker bars exactly like ``yfinance.download`` 1.7 does (multi.py).

    ``None`` is a failed ticker: yfinance stores ``utils.empty_df()`` for it, which
    becomes an all-NaN column block after reindexing.
    """
    from yfinance.multi import reindex_dfs
    from yfinance.utils import empty_df

    dfs = {t.upper(): empty_df() if df is None else df.copy() for t, df in per_ticker.items()}
    if ignore_tz:  # the daily default: index made tz-naive (exchange-local dates)
        for df in dfs.values():
            if len(df) and df.index.tz is not None:
                df.index = df.index.tz_localize(None)
    dfs = reindex_dfs(dfs, ignore_tz)
    data = pd.concat(dfs.values(), axis=1, sort=True, keys=dfs.keys(), names=["Ticker", "Price"])
    if group_by == "column":
        data.columns = data.columns.swaplevel(0, 1)
        data = data.sort_index(level=0, axis=1)
    return data


class FakeDownloader:
    """Stands in for yfinance.download: answers from a script of frames/exceptions."""

    def __init__(self, *script: pd.DataFrame | Exception | Callable[..., pd.DataFrame]) -> None:
        self.script = list(script)
        self.calls: list[tuple[object, dict[str, object]]] = []

    def __call__(self, tickers: object, **kwargs: object) -> pd.DataFrame:
        self.calls.append((tickers, kwargs))
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        if callable(step):
            return step(tickers, **kwargs)
        return step.copy()


@pytest.fixture
def yf() -> type[YFHelpers]:
    """The yfinance frame builders (tests cannot import conftest under importlib mode)."""
    return YFHelpers


class YFHelpers:
    bars = staticmethod(bars)
    frame = staticmethod(yf_download_frame)
    Downloader = FakeDownloader
