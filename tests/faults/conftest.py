"""Fault-suite fixtures: a FRED fake and no proxies (``kit`` and ``wh``: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxies from the environment would route loopback requests elsewhere."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture()
def fred_server(kit) -> Iterator[object]:
    """A FRED API fake on 127.0.0.1 (queue failures with ``.fail(mode, times)``)."""
    with kit.FakeFred() as server:
        yield server
