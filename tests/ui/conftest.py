"""Fixtures for the real-browser UI test: ``dagster dev`` on a free port, and headless Chromium.

The server gets its own DAGSTER_HOME and warehouse under ``tmp_path``; Chromium and chromedriver
come from Debian (``.ci/install-browser.sh``); the test skips only when Chromium is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = 120.0
# no telemetry; runs launch straight from the webserver instead of waiting for the daemon's queue
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
"""


@dataclass(frozen=True)
class DagsterServer:
    """A running ``dagster dev``: where to reach it and where it keeps its state."""

    url: str
    home: Path
    db: Path
    log: Path

    def graphql(self, query: str) -> dict:
        """POST one GraphQL query to the webserver (loopback only) and return ``data``."""
        req = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)["data"]

    def log_tail(self, n: int = 60) -> str:
        """The last lines of the server log, for failure messages."""
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _browser_binaries() -> tuple[str, str] | None:
    browser = next((p for n in ("chromium", "chromium-browser") if (p := shutil.which(n))), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def _own_session_default_signals() -> None:
    # own process group (so teardown can reach every child) and default SIGINT/SIGTERM even when
    # pytest itself was started with them ignored (background jobs), so `dagster dev` can stop
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop(proc: subprocess.Popen, grace_s: float = 20.0) -> None:
    """Ctrl-C ``dagster dev`` (it stops webserver, daemon, code server), then kill its group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers of this server only: its own group
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


INSTALL_HINT = (
    "The real-browser UI test (tests/ui/test_browser.py) was SKIPPED: Chromium and chromedriver "
    "are not installed.\n"
    "  Install them (Debian/Ubuntu, needs sudo):  .ci/install-browser.sh\n"
    "    (= apt-get install chromium chromium-driver fonts-liberation; pip install selenium)\n"
    "  then run it:  .venv/bin/python -m pytest tests/ui -q   (or make test)"
)
_SKIPPED_FOR_BROWSER: list[str] = []


@pytest.fixture(scope="module")
def browser_binaries() -> tuple[str, str]:
    """Paths of Chromium and chromedriver; skips the UI tests when Chromium is not installed."""
    found = _browser_binaries()
    if found is None:
        _SKIPPED_FOR_BROWSER.append("chromium")
        pytest.skip("chromium/chromedriver not installed: run .ci/install-browser.sh (apt-get)")
    return found


def pytest_unconfigure(config: pytest.Config) -> None:
    """The very last lines of the run: the browser test was skipped, and how to install it."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if _SKIPPED_FOR_BROWSER and reporter is not None:
        reporter.write_sep("=", "browser test skipped", yellow=True, bold=True)
        reporter.write_line(INSTALL_HINT, yellow=True)


@pytest.fixture(scope="module")
def dagster_server(
    tmp_path_factory: pytest.TempPathFactory, browser_binaries: tuple[str, str]
) -> Iterator[DagsterServer]:
    """``dagster dev`` on the repository's workspace with a throwaway instance and warehouse."""
    root = tmp_path_factory.mktemp("dagster_ui")
    home, db, log = root / "dagster_home", root / "warehouse" / "riskalloc.duckdb", root / "dev.log"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "RISKALLOC_DB": str(db),
        "RISKALLOC_SOURCE": "sample",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "PYTHONUNBUFFERED": "1",
    }
    dagster = Path(sys.executable).with_name("dagster")
    cmd = [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_own_session_default_signals,
        )
    server = DagsterServer(url=f"http://127.0.0.1:{port}", home=home, db=db, log=log)
    try:
        _wait_until_loaded(server, proc)
        yield server
    finally:
        _stop(proc)


def _wait_until_loaded(server: DagsterServer, proc: subprocess.Popen) -> None:
    """Wait for the webserver to answer and the code location to be loaded."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            entries = server.graphql(query)["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
        except (urllib.error.URLError, ConnectionError, KeyError, TypeError):
            pass
        time.sleep(1.0)
    pytest.fail(f"dagster dev not ready in {SERVER_START_TIMEOUT_S:.0f}s:\n{server.log_tail()}")


@pytest.fixture(scope="module")
def browser(browser_binaries: tuple[str, str]) -> Iterator[object]:
    """Headless Chromium driven by selenium with the Debian chromedriver (no driver downloads)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("chromium is installed but selenium is not: run .ci/install-browser.sh")
    chromium, chromedriver = browser_binaries
    opts = Options()
    opts.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1600,1000",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=chromedriver))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
