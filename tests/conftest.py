"""Test-wide guard: no test may reach the network; loopback (127.0.0.1, ::1, localhost) is fine."""

from __future__ import annotations

import importlib.util
import ipaddress
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "", None}


def _is_local(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address: object) -> None:
    if isinstance(address, tuple) and address and not _is_local(address[0]):
        # pytest.fail raises a BaseException, so libraries' `except Exception` cannot hide it
        pytest.fail(f"test tried to reach the network ({address!r}); use loopback fakes")


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    """Fail any test that connects to (or resolves) a non-loopback address."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: object) -> None:
        _check(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        _check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
        _check((host,))
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket.socket, "connect_ex", connect_ex)
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        yield


# --- the fault kit, shared by tests/faults and tests/security --------------------------------


def load_kit() -> ModuleType:
    """``tests/faults/_helpers.py`` as a module (tests cannot import each other here)."""
    name = "_riskalloc_fault_kit"
    if name not in sys.modules:
        path = Path(__file__).resolve().parent / "faults" / "_helpers.py"
        spec = importlib.util.spec_from_file_location(name, path)
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
