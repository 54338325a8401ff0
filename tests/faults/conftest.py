"""Fixtures of the fault-injection suite: the helper kit, a seeded warehouse, a FRED fake."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest


def load_kit() -> ModuleType:
    """``tests/faults/_helpers.py`` as a module (tests cannot import each other here)."""
    name = "_riskalloc_fault_kit"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("_helpers.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def kit() -> ModuleType:
    """Helpers: seed, snapshot, assert_unchanged, assert_same_as_clean, FakeFred, ..."""
    return load_kit()


@pytest.fixture()
def wh(kit, tmp_path):
    """A warehouse seeded with SPY/TLT/GLD prices and VIXCLS/DGS10 over Nov 2019 - Feb 2020."""
    w = kit.Warehouse(tmp_path / "wh")
    kit.seed(w)
    return w


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
