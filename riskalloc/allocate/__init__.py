"""allocate stage of riskalloc."""
