"""The warehouse's table catalogue: names, keys, column types and Parquet partitioning.

Every table riskalloc writes is declared here, so identifiers in SQL only ever come
from this allow-list. Tables with ``columns=None`` take their schema from the first
frame written (feature tables whose columns follow the feature set).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from riskalloc.errors import SchemaError

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One warehouse table: key columns, declared columns (or None) and partitioning."""

    name: str
    key: tuple[str, ...]
    columns: tuple[tuple[str, str], ...] | None = None
    partition_by_year: str | None = "date"
    doc: str = ""

    def __post_init__(self) -> None:
        for ident in (self.name, *self.key, *(c for c, _ in self.columns or ())):
            if not _IDENT.match(ident):
                raise SchemaError(f"invalid SQL identifier {ident!r} in table {self.name!r}")

    @property
    def column_names(self) -> list[str] | None:
        """Declared column names in order, or None for frame-defined tables."""
        return None if self.columns is None else [c for c, _ in self.columns]


_PRICE_COLS = (
    ("date", "DATE"),
    ("ticker", "VARCHAR"),
    ("open", "DOUBLE"),
    ("high", "DOUBLE"),
    ("low", "DOUBLE"),
    ("close", "DOUBLE"),
    ("adj_close", "DOUBLE"),
    ("volume", "DOUBLE"),
    ("source", "VARCHAR"),
    ("ingested_at", "TIMESTAMP"),
)
_MACRO_COLS = (
    ("date", "DATE"),
    ("series_id", "VARCHAR"),
    ("value", "DOUBLE"),
    ("available_at", "DATE"),
    ("source", "VARCHAR"),
    ("ingested_at", "TIMESTAMP"),
)

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            "prices",
            ("date", "ticker"),
            _PRICE_COLS,
            doc="Daily bars and adjusted close per ticker.",
        ),
        TableSpec(
            "macro",
            ("date", "series_id"),
            _MACRO_COLS,
            doc="FRED series values with the date each became available.",
        ),
        TableSpec("features", ("date", "ticker"), doc="Point-in-time per-asset features."),
        TableSpec("macro_features", ("date",), doc="Point-in-time macro state."),
        TableSpec(
            "vol_forecasts",
            ("date", "ticker", "model"),
            doc="Forecast next-h-day volatility per asset and model.",
        ),
        TableSpec(
            "forecast_eval",
            ("model", "period", "asset_class"),
            partition_by_year=None,
            doc="Out-of-sample forecast evaluation.",
        ),
        TableSpec(
            "model_registry",
            ("version",),
            partition_by_year=None,
            doc="Every trained model artefact.",
        ),
        TableSpec("target_weights", ("date", "ticker"), doc="Published daily target weights."),
        TableSpec("regimes", ("date",), doc="Regime probabilities per date."),
        TableSpec(
            "shap_attributions",
            ("date", "ticker", "target", "feature"),
            doc="SHAP attributions of budgets and exposure.",
        ),
        TableSpec(
            "trade_lists",
            ("date", "ticker"),
            doc="Orders from the configured holdings to the day's target weights.",
        ),
        TableSpec(
            "backtest_returns",
            ("strategy", "date", "cost_bps", "rebalance", "seed"),
            doc="Daily backtest returns and exposure.",
        ),
        TableSpec(
            "backtest_weights",
            ("strategy", "date", "ticker", "cost_bps", "rebalance", "seed"),
            doc="Backtest weights on rebalance dates.",
        ),
        TableSpec(
            "backtest_metrics",
            ("strategy", "period", "cost_bps", "rebalance", "seed", "risk_measure"),
            partition_by_year=None,
            doc="Backtest metrics per strategy, period and setting.",
        ),
        TableSpec(
            "model_selection",
            ("candidate", "dev_start", "dev_end"),
            partition_by_year=None,
            doc="Allocator model selection on the development folds: every candidate tried.",
        ),
        TableSpec(
            "stress_drawdowns",
            ("strategy", "period", "cost_bps", "rebalance", "seed"),
            partition_by_year=None,
            doc="Max drawdown per stress window against ERC.",
        ),
        TableSpec(
            "covid_exposure_cut",
            ("strategy", "cost_bps", "rebalance", "seed"),
            partition_by_year=None,
            doc="When each strategy began cutting equity exposure before the COVID trough.",
        ),
    )
}


def table_spec(name: str) -> TableSpec:
    """Look a table up in the allow-list; unknown names are an error, never SQL."""
    try:
        return TABLES[name]
    except KeyError:
        raise SchemaError(f"unknown warehouse table {name!r}; known: {sorted(TABLES)}") from None
