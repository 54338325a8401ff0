"""quality stage of riskalloc."""
