"""Grid: weights computed once per (strategy, rebalance, seed, risk measure), costs re-simulated."""

from __future__ import annotations

import numpy as np
import pytest

from riskalloc.backtest.grid import baseline_factories, run_grid
from riskalloc.backtest.report import write_report


def test_grid_combinations_and_cost_ordering(sample_md, tmp_path) -> None:
    md = sample_md.select(["SPY", "TLT", "GLD", "HYG"])
    made: list[tuple[str, str, int]] = []
    base = baseline_factories(["equal_weight", "min_variance"])

    def counting(name):
        def factory(rm, seed):
            made.append((name, rm, seed))
            return base[name](rm, seed)

        return factory

    g = run_grid(
        {n: counting(n) for n in base},
        md,
        "2019-01-01",
        "2019-12-31",
        costs=(0, 25),
        rebalances=("weekly", "monthly"),
        risk_measures=("variance", "cvar"),
        seeds=(0, 1),
    )
    # one probe per strategy, then one walk-forward per (rebalance, seed, measure):
    # deterministic baselines run for the first seed only; equal weight takes no measure
    assert sorted(made) == sorted(
        [("equal_weight", "variance", 0)] * 3
        + [("min_variance", "variance", 0)] * 3
        + [("min_variance", "cvar", 0)] * 2
    )
    m = g.metrics
    assert list(m.columns[:6]) == [
        "strategy",
        "period",
        "cost_bps",
        "rebalance",
        "seed",
        "risk_measure",
    ]
    combos = m[["strategy", "cost_bps", "rebalance", "seed", "risk_measure"]].drop_duplicates()
    assert len(combos) == (1 + 2) * 2 * 2
    assert set(m["strategy"]) == {"equal_weight", "min_variance", "min_variance_cvar"}
    assert set(m.loc[m["strategy"] == "equal_weight", "risk_measure"]) == {"none"}
    head = m[m["period"] == "2019"].set_index(["strategy", "rebalance", "cost_bps"])
    for strat in ("equal_weight", "min_variance", "min_variance_cvar"):
        for reb in ("weekly", "monthly"):
            assert (
                head.loc[(strat, reb, 25), "ann_return"] < head.loc[(strat, reb, 0), "ann_return"]
            )
            assert head.loc[(strat, reb, 25), "turnover"] == pytest.approx(
                head.loc[(strat, reb, 0), "turnover"], rel=1e-2
            )
    # same targets for every cost: the weights rows differ only in cost_bps
    w = g.weights
    a = w[(w["strategy"] == "min_variance") & (w["rebalance"] == "weekly")]
    np.testing.assert_allclose(
        a[a["cost_bps"] == 0]["weight"].to_numpy(), a[a["cost_bps"] == 25]["weight"].to_numpy()
    )
    assert g.returns.duplicated(["strategy", "date", "cost_bps", "rebalance", "seed"]).sum() == 0
    wide = g.returns[(g.returns["cost_bps"] == 25) & (g.returns["rebalance"] == "monthly")]
    paths = write_report(
        wide.pivot(index="date", columns="strategy", values="return"),
        m[(m["cost_bps"] == 25) & (m["rebalance"] == "monthly")],
        tmp_path,
    )
    assert "| min_variance_cvar | 2019 |" in paths["markdown"].read_text()


def test_two_workers_give_the_serial_grid_row_for_row(sample_md) -> None:
    """Cells on two worker processes: the same metrics, returns and weights, in the same order."""
    import pandas as pd

    from riskalloc.errors import ConfigError

    md = sample_md.select(["SPY", "TLT", "GLD", "HYG"])
    base = baseline_factories(["equal_weight", "inverse_vol", "min_variance"])
    kw = {"costs": (0, 10), "rebalances": ("monthly",), "risk_measures": ("variance",)}
    serial = run_grid(base, md, "2019-01-01", "2019-12-31", **kw)
    par = run_grid(base, md, "2019-01-01", "2019-12-31", n_jobs=2, **kw)
    for frame in ("metrics", "returns", "weights"):
        pd.testing.assert_frame_equal(getattr(par, frame), getattr(serial, frame))
    assert list(par.results) == list(serial.results)
    with pytest.raises(ConfigError, match="n_jobs"):
        run_grid(base, md, "2019-01-01", "2019-12-31", n_jobs=0, **kw)
