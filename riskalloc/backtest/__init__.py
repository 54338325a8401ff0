"""backtest stage of riskalloc."""
