"""The synthetic universe: deterministic, realistic (fat tails, clustering), and loadable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskalloc import quality
from riskalloc.errors import ConfigError
from riskalloc.sources import FileSource
from riskalloc.synthetic import CASH_TICKER, INDEX_TICKER, make_synthetic_universe
from riskalloc.universe import load_universe
from riskalloc.warehouse import Warehouse
from riskalloc.warehouse.ingest import ingest_macro, ingest_prices

# a short window keeps the generator fast; shares high enough that small n shows every feature
KW = {"start": "2012-01-03", "end": "2022-12-30", "min_history_years": 3.0}


@pytest.fixture(scope="module")
def syn():
    """40 assets with late starts, delistings and gaps."""
    return make_synthetic_universe(40, seed=3, delist_share=0.1, gap_share=0.1, **KW)


def test_deterministic_by_seed():
    a = make_synthetic_universe(12, seed=7, **KW)
    b = make_synthetic_universe(12, seed=7, **KW)
    c = make_synthetic_universe(12, seed=8, **KW)
    pd.testing.assert_frame_equal(a.prices, b.prices)
    assert a.universe == b.universe
    assert not a.prices.equals(c.prices)


def test_shapes_and_roles(syn):
    p, u = syn.prices, syn.universe
    assert p.shape[1] == 40 and list(p.columns) == u.tickers
    assert p.index.is_monotonic_increasing and p.index[0] == pd.Timestamp("2012-01-03")
    assert u.cash == CASH_TICKER and u.equity_proxy == INDEX_TICKER
    assert u.risk_free_rate in u.series_ids
    classes = pd.Series(u.asset_classes())
    assert (classes == "cash").sum() == 1
    assert (classes == "equity").mean() > 0.5  # mostly equity
    assert classes.nunique() >= 3  # with bonds / commodities / ...
    assert (p.stack().dropna() > 0).all()  # every stored price positive


def test_fat_tails_and_volatility_clustering(syn):
    r = np.log(syn.prices.drop(columns=[CASH_TICKER])).diff()
    kurt = r.kurt() + 3.0  # pandas gives excess kurtosis
    assert kurt.median() > 3.0
    acf = (r**2).apply(lambda c: c.dropna().autocorr(1))
    assert acf.median() > 0.0 and (acf > 0).mean() > 0.8
    vol = r.std() * np.sqrt(252)
    assert 0.02 < vol.median() < 0.8  # plausible annual vols, not degenerate
    corr = r.corr().to_numpy()
    assert 0.05 < np.nanmean(corr[np.triu_indices_from(corr, 1)]) < 0.9  # common factors


def test_staggered_inception_delistings_gaps(syn):
    p = syn.prices
    first = p.apply(lambda c: c.first_valid_index())
    last = p.apply(lambda c: c.last_valid_index())
    assert first.nunique() > 3  # inception dates are staggered
    assert first[INDEX_TICKER] == p.index[0] and first[CASH_TICKER] == p.index[0]
    assert len(syn.delisted) >= 1
    for t, day in syn.delisted.items():
        assert last[t] == day < p.index[-1]
    assert len(syn.gaps) >= 1
    for t, k in syn.gaps.items():
        inside = p.loc[first[t] : last[t], t]
        assert inside.isna().sum() == k and 1 <= k <= 3


def test_latest_inception_bounds_late_starts():
    syn = make_synthetic_universe(30, seed=1, latest_inception="2014-06-30", **KW)
    first = syn.prices.apply(lambda c: c.first_valid_index())
    assert first.max() <= pd.Timestamp("2014-06-30") and first.nunique() > 3


def test_bad_arguments():
    with pytest.raises(ConfigError, match="at least 3"):
        make_synthetic_universe(2)
    with pytest.raises(ConfigError, match="factor_paths"):
        make_synthetic_universe(5, factor_paths="garch")
    with pytest.raises(ConfigError, match="unknown classes"):
        make_synthetic_universe(5, class_mix={"crypto": 1.0})


def test_bootstrap_factor_paths_differ_by_seed():
    a = make_synthetic_universe(6, seed=1, factor_paths="bootstrap", **KW)
    b = make_synthetic_universe(6, seed=2, factor_paths="bootstrap", **KW)
    assert not np.allclose(a.prices[INDEX_TICKER], b.prices[INDEX_TICKER])


def test_small_universe_loads_through_the_file_source(tmp_path):
    syn = make_synthetic_universe(8, seed=0, delist_share=0.2, gap_share=0.2, **KW)
    paths = syn.write(tmp_path / "syn")
    universe = load_universe(paths["universe"])  # the written YAML validates
    assert universe == syn.universe
    source = FileSource(prices_path=paths["prices"], macro_path=paths["macro"])
    wh = Warehouse.from_db_path(tmp_path / "wh" / "riskalloc.duckdb")
    with wh.connect() as con:
        ingest_prices(wh, con, source, universe, end="2022-12-29", incremental=True)
        ingest_macro(wh, con, source, universe, end="2022-12-29", incremental=True)
        stored = con.execute("select * from prices").df()
    assert sorted(stored["ticker"].unique()) == sorted(universe.tickers)
    assert len(stored) == int(syn.prices.loc[:"2022-12-29"].notna().sum().sum())
    for check in (
        quality.check_present(stored, universe.tickers),
        quality.check_gaps(stored, max_gap_days=5),
        quality.check_positive_prices(stored),
        quality.check_unique_keys(stored, ("date", "ticker")),
    ):
        assert check.passed, check.message
