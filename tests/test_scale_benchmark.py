"""benchmarks/scale.py's bookkeeping: steps map to stages, slopes, and the n log n bound."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "scale.py"


@pytest.fixture(scope="module")
def scale():
    spec = importlib.util.spec_from_file_location("scale_benchmark", PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["scale_benchmark"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_steps_map_to_stages(scale):
    assert scale.stage_of("prices") == "ingest"
    assert scale.stage_of("macro_macro_unique") == "ingest"  # a check of macro
    assert scale.stage_of("macro_features") == "features"  # an asset, not a check of macro
    assert scale.stage_of("vol_forecasts_vol_forecasts_positive") == "forecaster"
    assert scale.stage_of("allocator_fold_models") == "backtest"
    assert scale.stage_of("something_new") == "other"


def test_slopes_and_bound(scale):
    rec = {
        str(n): {
            "success": True,
            "main_job_cpu_s": 2.0 * n,
            "stages": {"ingest": {"cpu_s": 0.01 * n**2}, "features": {"cpu_s": 3.0 * n}},
        }
        for n in (35, 100, 250, 500)
    }
    ex = scale.exponents(rec)
    assert ex["main_job"] == pytest.approx(1.0, abs=1e-6)
    assert ex["ingest"] == pytest.approx(2.0, abs=1e-6)
    assert ex["forecaster"] is None  # never measured
    assert 1.0 < scale.nlogn_slope([35, 100, 250, 500]) < 1.4


def test_restage_sums_steps_and_keeps_peaks(scale):
    rec = {
        "main_step_s": {"prices": 2.0, "prices_prices_unique": 1.0, "features": 4.0},
        "main_step_cpu_s": {"prices": 1.5, "prices_prices_unique": 0.5, "features": 3.0},
        "main_step_peak_gib": {"prices": 1.0, "prices_prices_unique": 1.2, "features": 0.9},
        "stages": {"nightly": {"s": 9.0, "peak_rss_gib": 1.1}},
        "nightly_cpu_s": 7.0,
    }
    st = scale.restage(rec)["stages"]
    assert st["ingest"] == {"s": 3.0, "peak_rss_gib": 1.2, "cpu_s": 2.0}
    assert st["features"]["cpu_s"] == 3.0 and st["nightly"]["cpu_s"] == 7.0


def test_sampler_counts_worker_processes(scale):
    """Memory and CPU of a child process (a joblib worker) are in the samples, not only ours."""
    import subprocess
    import time

    burn = (
        "import time; b = bytearray(300 * 2**20); t = time.process_time()\n"
        "while time.process_time() - t < 1.0: pass\n"
        "time.sleep(0.5)"
    )
    with scale.RssSampler(every=0.05) as s:
        t0 = time.time()
        idle = s._proc("self")[0]
        subprocess.run([sys.executable, "-c", burn], check=True)
        t1 = time.time()
    assert s.peak(t0, t1) - idle > 250 * 2**20  # the child's 300 MiB buffer was counted
    assert s.peak(t0, t1, "pss") > 0
    assert s.cpu_between(t0, t1) > 0.8  # its CPU second too (live, then reaped)
