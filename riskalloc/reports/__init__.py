"""reports stage of riskalloc."""
