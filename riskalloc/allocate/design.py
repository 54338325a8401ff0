"""One point of the allocator's design space: budgets, covariance inputs and overlays.

An :class:`AllocatorDesign` is what the model-development protocol
(:mod:`riskalloc.allocate.selection`) searches over and what the committed
``selected_design.json`` holds. Every option is validated when the design is built, never
in the middle of a backtest. Nothing here is tuned to a universe: budgets come from the
number of assets (or of asset classes), and the volatility target is a multiple of the
trailing volatility of the equal-risk portfolio on the same assets.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Literal, get_args

from riskalloc.errors import ConfigError

BudgetMode = Literal["equal", "class_equal", "learned_tilt"]
VolSource = Literal["sample", "ewma", "blend", "forecast"]
CorrShrink = Literal["none", "constant"]
TrendScope = Literal["asset", "class"]
SELECTED_DESIGN_FILE = "selected_design.json"
MAX_GROSS_EXPOSURE = 3.0  # sanity ceiling on leverage for every design, publication and backtest


@dataclass(frozen=True)
class AllocatorDesign:
    """Design and hyper-parameters of the risk-budgeting allocator (all JSON-serialisable).

    - ``budgets``: ``equal`` (1/n: plain risk parity), ``class_equal`` (1/K per asset class,
      split equally inside it) or ``learned_tilt`` (log b = log b₀ + tilt, the tilt learned end
      to end through the exact layer and pulled towards 0 by ``tilt_penalty``).
    - ``vol_source``: volatilities of the covariance: the window's sample vols, EWMA vols
      (λ = 0.94, fast), the average of the two variances, or ``forecast``: the production
      forecaster's next-21-day vols (the strategy must be given them; an asset without a
      forecast in the last 5 days keeps its sample vol); correlations always come from the
      trailing ``corr_window`` days.
    - ``corr_shrink``: ``none`` keeps the window's sample correlation; ``constant`` shrinks
      the sample covariance towards the constant-correlation target with the Ledoit-Wolf
      (2004) intensity, estimated on the window (PyPortfolioOpt). At full intensity every
      pair has the average correlation and equal risk is inverse volatility.
    - ``trend_floor``: weight multiplier of an asset whose trailing ``trend_lookback``-day
      return is below cash (time-series momentum); 1 switches the overlay off.
      ``trend_scope``: ``asset`` reads each asset's own return; ``class`` reads the
      equal-weight return of its asset class and moves the whole class (fewer, slower
      signals).
    - ``vol_target``: exposure = min(``max_exposure``, m · σ_ERC,long / σ_now), m the multiple
      and σ_ERC,long the volatility of the equal-risk portfolio over ``target_window`` days;
      None switches the overlay off. ``max_exposure`` > 1 is leverage (at most
      ``MAX_GROSS_EXPOSURE``): the borrowed part pays the risk-free rate plus the backtest's
      borrowing spread, as levered risk parity is run in practice; it needs the vol target.
    - ``rebalance_speed``: κ of the partial rebalance w ← w_prev + κ (w* − w_prev).
    - ``ensemble``: seeds whose learned budgets are averaged (learned_tilt only).
    """

    budgets: BudgetMode = "equal"
    tilt_penalty: float = 1.0
    vol_source: VolSource = "sample"
    corr_window: int = 252
    corr_shrink: CorrShrink = "none"
    trend_lookback: int = 252
    trend_floor: float = 1.0
    trend_scope: TrendScope = "asset"
    vol_target: float | None = None
    target_window: int = 756
    max_exposure: float = 1.0
    rebalance_speed: float = 1.0
    ensemble: int = 1

    def __post_init__(self) -> None:
        if self.budgets not in get_args(BudgetMode):
            raise ConfigError(f"budgets {self.budgets!r}: use one of {list(get_args(BudgetMode))}")
        if self.vol_source not in get_args(VolSource):
            raise ConfigError(
                f"vol_source {self.vol_source!r}: use one of {list(get_args(VolSource))}"
            )
        if self.corr_shrink not in get_args(CorrShrink):
            raise ConfigError(
                f"corr_shrink {self.corr_shrink!r}: use one of {list(get_args(CorrShrink))}"
            )
        if self.trend_scope not in get_args(TrendScope):
            raise ConfigError(
                f"trend_scope {self.trend_scope!r}: use one of {list(get_args(TrendScope))}"
            )
        if self.tilt_penalty < 0:
            raise ConfigError(f"tilt_penalty must be ≥ 0, got {self.tilt_penalty}")
        for name in ("corr_window", "trend_lookback", "target_window"):
            if int(getattr(self, name)) < 21:
                raise ConfigError(f"{name} must be at least 21 trading days")
        if not 0.0 <= self.trend_floor <= 1.0:
            raise ConfigError(f"trend_floor must be in [0, 1], got {self.trend_floor}")
        if self.vol_target is not None and self.vol_target <= 0:
            raise ConfigError(f"vol_target must be a positive multiple, got {self.vol_target}")
        if not 0.0 < self.max_exposure <= MAX_GROSS_EXPOSURE:
            raise ConfigError(
                f"max_exposure must be in (0, {MAX_GROSS_EXPOSURE:g}], got {self.max_exposure}"
            )
        if self.max_exposure > 1.0 and self.vol_target is None:
            raise ConfigError(
                f"max_exposure {self.max_exposure:g} > 1 is leverage, which only the vol target "
                "uses: set vol_target too"
            )
        if not 0.0 < self.rebalance_speed <= 1.0:
            raise ConfigError(f"rebalance_speed must be in (0, 1], got {self.rebalance_speed}")
        if self.ensemble < 1:
            raise ConfigError(f"ensemble must be ≥ 1, got {self.ensemble}")

    @property
    def learned(self) -> bool:
        """True when part of the design is trained (and so depends on the seed)."""
        return self.budgets == "learned_tilt"

    @property
    def key(self) -> str:
        """A short, stable identifier of the design (used as the candidate id)."""
        parts = [self.budgets]
        if self.learned:
            parts.append(f"pen{self.tilt_penalty:g}")
            if self.ensemble > 1:
                parts.append(f"ens{self.ensemble}")
        parts.append(self.vol_source)
        if self.corr_window != 252:
            parts.append(f"corr{self.corr_window}")
        if self.corr_shrink == "constant":
            parts.append("cc")
        if self.trend_floor < 1.0:
            scope = "cls" if self.trend_scope == "class" else ""
            parts.append(f"{scope}trend{self.trend_lookback}x{self.trend_floor:g}")
        if self.vol_target is not None:
            parts.append(f"vt{self.vol_target:g}")
            if self.max_exposure > 1.0:
                parts.append(f"lev{self.max_exposure:g}")
        if self.rebalance_speed < 1.0:
            parts.append(f"k{self.rebalance_speed:g}")
        return "-".join(parts)

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AllocatorDesign:
        """Inverse of :meth:`to_dict`; unknown keys are refused by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown allocator design keys {unknown}; known: {sorted(known)}")
        return cls(**d)


def load_design(path: str | Path | None = None) -> AllocatorDesign:
    """The committed production design (``riskalloc/allocate/selected_design.json``) or a file."""
    doc = load_selection_record(path)
    return AllocatorDesign.from_dict(doc.get("design", doc))


def load_selection_record(path: str | Path | None = None) -> dict:
    """The whole committed selection record: the design, ``n_trials``, the dev scores."""
    if path is None:
        text = resources.files("riskalloc.allocate").joinpath(SELECTED_DESIGN_FILE).read_text()
        where = SELECTED_DESIGN_FILE
    else:
        where = str(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read allocator design {where}: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"allocator design {where} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"allocator design {where} must hold a JSON object")
    return doc
