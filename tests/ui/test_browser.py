"""The Dagster UI in a real headless browser: the asset graph and catalog show our assets, and the
ingest group materialises (Materialize all ▾ → launchpad → Materialize) to a successful run."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from riskalloc.warehouse import Warehouse, read_table

pytestmark = [pytest.mark.ui, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT_COPY = REPO / "benchmarks" / "results" / "ui.png"
RUN_TIMEOUT_S = 240.0
UI_TIMEOUT_S = 60.0
START = "2019-01-01"  # a short history keeps the run quick
OPS_CONFIG = f"""\
ops:
  prices:
    config:
      start: "{START}"
  macro:
    config:
      start: "{START}"
"""


def _by_text(text: str) -> tuple[str, str]:
    from selenium.webdriver.common.by import By

    return By.XPATH, f"//*[normalize-space(text())='{text}']"


def _wait(driver, timeout: float = UI_TIMEOUT_S):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.5)


def _body(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def _dismiss_dialogs(driver, wait_s: float = 1.0) -> bool:
    """Close the first-visit 'Join the Dagster community' dialog if it shows within ``wait_s``."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + wait_s
    while True:
        skips = driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']")
        shown = [b for b in skips if b.is_displayed()]
        if shown:
            shown[0].click()
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def _click(driver, element) -> None:
    """Click, closing a dialog that pops up over the element first."""
    from selenium.common.exceptions import ElementClickInterceptedException

    try:
        element.click()
    except ElementClickInterceptedException:
        _dismiss_dialogs(driver, wait_s=5.0)
        time.sleep(0.5)
        element.click()


def _open_launchpad(driver) -> None:
    """Open the menu beside "Materialize all" and choose "Open launchpad"."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    button = _wait(driver).until(
        EC.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Materialize all']"))
    )
    group = button.find_element(By.XPATH, "./../..")
    [menu] = group.find_elements(By.XPATH, ".//button[not(normalize-space())]")
    _click(driver, menu)
    _click(driver, _wait(driver).until(EC.element_to_be_clickable(_by_text("Open launchpad"))))


_EDITOR_JS = """
const eds = Array.from(document.querySelectorAll('.CodeMirror')).filter(e => e.offsetParent);
const cm = eds.length ? eds[eds.length - 1].CodeMirror : null;
if (cm && arguments[0] !== null) {
  cm.focus();
  cm.replaceRange(arguments[0], {line: 0, ch: 0}, {line: cm.lineCount(), ch: 0}, 'paste');
}
return cm ? cm.getValue() : null;
"""


def _set_launchpad_config(driver) -> None:
    """Replace the scaffolded YAML in the launchpad editor (CodeMirror) as a paste would."""
    _wait(driver).until(lambda d: d.execute_script(_EDITOR_JS, None))  # scaffold loaded
    driver.execute_script(_EDITOR_JS, OPS_CONFIG)
    time.sleep(1.5)  # let the launchpad re-validate the new text
    _wait(driver, 15).until(
        lambda d: "No errors" in _body(d).split("\n"),
        message=f"launchpad rejects the run config:\n{_body(driver)[-2000:]}",
    )
    assert "2019-01-01" in driver.execute_script(_EDITOR_JS, None)


def _asset_nodes(server) -> dict[str, str]:
    data = server.graphql("{ assetNodes { assetKey { path } groupName } }")
    return {"/".join(n["assetKey"]["path"]): n["groupName"] for n in data["assetNodes"]}


def _location(server) -> str:
    data = server.graphql("{ workspaceOrError { ... on Workspace { locationEntries { name } } } }")
    [entry] = data["workspaceOrError"]["locationEntries"]
    return entry["name"]


def test_asset_graph_lists_assets_and_ingest_materialises(dagster_server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    driver, server = browser, dagster_server
    assets = _asset_nodes(server)
    assert {"prices", "macro"} <= set(assets)
    assert assets["prices"] == assets["macro"] == "ingest"

    # 1. the global asset graph shows every group; the catalog lists every asset
    driver.get(f"{server.url}/asset-groups")
    _dismiss_dialogs(driver, wait_s=8.0)  # shown once per browser profile, a moment after load
    _wait(driver).until(lambda d: set(assets.values()) <= set(_body(d).split("\n")))
    driver.set_window_size(1600, 400 + 120 * len(assets))  # the catalog renders visible rows only
    driver.get(f"{server.url}/assets")
    _dismiss_dialogs(driver)
    _wait(driver).until(
        lambda d: set(assets) <= set(_body(d).split("\n")),
        message=f"catalog lacks {sorted(set(assets) - set(_body(driver).split(chr(10))))}",
    )
    driver.set_window_size(1600, 1000)

    # 2. "Materialize all" ▾ -> "Open launchpad" on the ingest group; run config typed in the editor
    group_url = f"{server.url}/locations/{_location(server)}/asset-groups/ingest"
    driver.get(group_url)
    _dismiss_dialogs(driver)
    _wait(driver).until(lambda d: {"prices", "macro"} <= set(_body(d).split("\n")))
    _open_launchpad(driver)
    _set_launchpad_config(driver)
    materialize = _wait(driver).until(
        EC.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Materialize']"))
    )
    _click(driver, materialize)

    # 3. the UI goes to the new run's page, which reaches Success (Failure ends the wait early)
    match = _wait(driver).until(
        lambda d: re.search(r"/runs/([0-9a-f-]{36})", d.current_url),
        message=f"no run page after Materialize; server log:\n{server.log_tail()}",
    )
    run_id = match.group(1)
    _wait(driver, RUN_TIMEOUT_S).until(
        EC.any_of(
            EC.presence_of_element_located(_by_text("Success")),
            EC.presence_of_element_located(_by_text("Failure")),
        ),
        message=f"run {run_id} not finished in {RUN_TIMEOUT_S:.0f}s:\n{server.log_tail()}",
    )
    assert not driver.find_elements(*_by_text("Failure")), server.log_tail()
    driver.save_screenshot(str(tmp_path / "run.png"))

    # 4. the instance agrees: one successful run that materialised both ingest assets
    with dg.DagsterInstance.from_config(str(server.home)) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        assert run.run_config["ops"]["prices"]["config"]["start"] == START
        for key in ("prices", "macro"):
            event = instance.get_latest_materialization_event(dg.AssetKey(key))
            assert event is not None and event.run_id == run.run_id

    # 5. and the data is in the server's warehouse
    with Warehouse.from_db_path(server.db).connect() as con:
        prices = read_table(con, "prices")
    assert prices["ticker"].nunique() == 35
    assert str(prices["date"].min().date()) == "2019-01-02"  # the launchpad config was used
    assert str(prices["date"].max().date()) == "2022-12-30"

    # 6. the group graph now shows both assets materialised: that is the screenshot we keep
    driver.get(group_url)
    _dismiss_dialogs(driver)
    _wait(driver).until(lambda d: _body(d).split("\n").count("Materialized") >= 2)
    shot = tmp_path / "ui.png"
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("RISKALLOC_KEEP_SCREENSHOT"):  # refresh the README's picture on request
        SCREENSHOT_COPY.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT_COPY)
