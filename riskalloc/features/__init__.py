"""features stage of riskalloc."""
