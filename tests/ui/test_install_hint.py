"""Without Chromium, a test run ends with how to install it (not just one "skipped" line)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_run_without_chromium_ends_with_the_install_command(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no chromium, no chromedriver on this PATH
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/ui/test_browser.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    tail = out.stdout.strip().splitlines()[-6:]
    assert any("browser test skipped" in line for line in tail)
    assert any(".ci/install-browser.sh" in line for line in tail)
    assert "1 skipped" in out.stdout
