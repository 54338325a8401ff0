"""Real covariances from the bundled data for the allocator tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from riskalloc.market import MarketData


@pytest.fixture(scope="session")
def sample_md() -> MarketData:
    """The bundled snapshot."""
    return MarketData.sample()


@pytest.fixture(scope="session")
def real_covs(sample_md: MarketData) -> list[np.ndarray]:
    """One-year sample covariances of daily returns at several dates (calm and stressed)."""
    rets = sample_md.returns()
    out = []
    for end in ["2008-12-31", "2013-06-28", "2016-12-30", "2020-03-31", "2022-09-30"]:
        window = rets.loc[pd.Timestamp(end) - pd.Timedelta(days=365) : end].dropna(axis=1)
        out.append(np.cov(window.to_numpy().T))
    return out


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(params=["numpy", "torch"], autouse=False)
def backend(request) -> str:
    """Each forward-solve backend (NumPy on the CPU by default, torch on GPUs), passed to the
    solver explicitly (``solve_risk_budgeting(..., backend=backend)``)."""
    return request.param
