"""warehouse stage of riskalloc."""
