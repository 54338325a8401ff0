"""forecast stage of riskalloc."""
