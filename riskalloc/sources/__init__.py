"""sources stage of riskalloc."""
