"""Launchpad config: what a user may change per run."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from riskalloc.backtest.schedule import DEFAULT_COST_BPS, DEFAULT_REBALANCE


class IngestConfig(dg.Config):
    """Date range and mode of an ingest run."""

    start: str | None = Field(None, description="First date (YYYY-MM-DD); empty = all history.")
    end: str | None = Field(None, description="Last date (YYYY-MM-DD); empty = up to today.")
    incremental: bool = Field(
        True, description="Fetch only dates after the last stored one (with a small overlap)."
    )


class ForecasterConfig(dg.Config):
    """Walk-forward settings of the volatility forecaster."""

    start: str = Field("2010-01-01", description="First forecast date (yearly folds from here).")
    seed: int = Field(0, description="Seed of the LSTM.")
    max_epochs: int = Field(8, description="LSTM epochs per fold (early stopping on validation).")
    n_jobs: int = Field(
        1, description="Folds trained at once in worker processes (-1: every core); same rows."
    )


class AllocatorNetworkConfig(dg.Config):
    """Launchpad view of ``TrainConfig`` for the ``allocator_network`` asset (the v1 network on
    all history; its architecture, ``NetworkConfig``, follows from the data)."""

    seed: int = Field(0, description="Seed of the allocator.")
    epochs: int = Field(20, description="Maximum epochs (early stopping on validation).")


class BacktestConfig(dg.Config):
    """The headline walk-forward evaluation."""

    start: str = Field("2017-01-01", description="First out-of-sample date.")
    end: str = Field("2022-12-31", description="Last out-of-sample date.")
    cost_bps: float = Field(DEFAULT_COST_BPS, description="Transaction cost in bps of turnover.")
    rebalance: str = Field(DEFAULT_REBALANCE, description="daily | weekly | monthly")
    seed: int = Field(0, description="Seed of the learned strategies.")
    ablations: bool = Field(True, description="Also run the ablations of riskalloc.")
    epochs: int = Field(20, description="Allocator epochs per fold (early stopping).")
    n_jobs: int = Field(
        1, description="Fold models / strategies run at once in worker processes (-1: all cores)."
    )


class ShapConfig(dg.Config):
    """Which allocations to explain."""

    start: str = Field("2017-01-01", description="First date explained (month ends).")
    nsamples: int = Field(
        400,
        description="Model evaluations per explained date (antithetic permutation pairs = "
        "nsamples / (2 × (players − 1)), at least 1).",
    )


class TradeListConfig(dg.Config):
    """The holdings the morning trade list starts from (empty: $RISKALLOC_HOLDINGS, else none)."""

    holdings_file: str = Field(
        "", description="Holdings CSV, ticker,shares or ticker,weight (CASH allowed)."
    )
    nav: float | None = Field(None, description="NAV; default: the holdings' value (shares).")
    band: float = Field(0.0, description="No-trade band: skip orders with |Δweight| below it.")
    min_trade: float = Field(0.0, description="Smallest order, in currency.")
    cost_bps: float = Field(10.0, description="Cost per unit of turnover (the backtest's model).")
