"""Jump guard: refuse to publish a day whose turnover or exposure jumps without a regime change.

Off by default. Limits come from the environment (``RISKALLOC_MAX_TURNOVER``: L1 distance incl.
the cash leg between a day's target and the previous published day's; ``RISKALLOC_MAX_EXPOSURE_
JUMP``: absolute change of exposure), so the nightly schedule, backfills and the asset check all
read the same values. A day is allowed to move more when its regime changed (the allocator's
named regime or the reference regime), since that is when a large move is expected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskalloc.errors import ConfigError, PublishError

ENV_TURNOVER = "RISKALLOC_MAX_TURNOVER"
ENV_EXPOSURE = "RISKALLOC_MAX_EXPOSURE_JUMP"


@dataclass(frozen=True)
class JumpLimits:
    """Largest day-on-day turnover and exposure change published without a regime change."""

    max_turnover: float | None = None
    max_exposure_change: float | None = None

    @property
    def enabled(self) -> bool:
        """Whether any limit is set (the guard is off by default)."""
        return self.max_turnover is not None or self.max_exposure_change is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> JumpLimits:
        """Limits from ``RISKALLOC_MAX_TURNOVER`` / ``RISKALLOC_MAX_EXPOSURE_JUMP`` (unset: off)."""
        env = os.environ if env is None else env
        out = {}
        for key, field in ((ENV_TURNOVER, "max_turnover"), (ENV_EXPOSURE, "max_exposure_change")):
            raw = (env.get(key) or "").strip()
            if not raw:
                continue
            try:
                v = float(raw)
            except ValueError:
                raise ConfigError(f"{key} must be a number, got {raw[:30]!r}") from None
            if not np.isfinite(v) or v <= 0:
                raise ConfigError(f"{key} must be > 0 (unset it to turn the guard off), got {v}")
            out[field] = v
        return cls(**out)


def _wide(rows: pd.DataFrame) -> pd.DataFrame:
    """date × ticker weights of target-weight rows."""
    w = rows.pivot_table(index="date", columns="ticker", values="weight", aggfunc="first")
    w.index = pd.DatetimeIndex(pd.to_datetime(w.index), name="date")
    return w.sort_index().fillna(0.0)


def weight_jumps(
    new: pd.DataFrame, previous: pd.DataFrame | None = None, reference: pd.Series | None = None
) -> pd.DataFrame:
    """Day-on-day turnover (L1 incl. cash), exposure change and regime change of ``new``.

    ``previous``: published rows before ``new`` (its last date is the first comparison);
    ``reference``: date → reference regime label. The first day without a predecessor is left out.
    """
    both = new if previous is None or previous.empty else pd.concat([previous, new])
    w = _wide(both)
    reg = both.groupby(pd.to_datetime(both["date"]))["regime"].first().astype(str)
    cash = 1.0 - w.sum(axis=1)
    turnover = w.diff().abs().sum(axis=1) + cash.diff().abs()
    exposure = w.sum(axis=1)
    ref = None if reference is None else pd.Series(reference).astype(str)
    if ref is not None:
        ref.index = pd.DatetimeIndex(pd.to_datetime(ref.index))
    out = pd.DataFrame(
        {
            "prev_date": w.index.to_series().shift(),
            "turnover": turnover,
            "exposure_change": exposure.diff().abs(),
            "regime": reg.reindex(w.index),
            "prev_regime": reg.reindex(w.index).shift(),
        }
    )
    changed = out["regime"] != out["prev_regime"]
    if ref is not None:
        r = ref.reindex(w.index)
        changed |= (r != r.shift()) & r.notna() & r.shift().notna()
    out["regime_changed"] = changed
    new_dates = pd.DatetimeIndex(pd.to_datetime(new["date"]).unique())
    out = out.loc[out.index.isin(new_dates) & out["prev_date"].notna()]
    return out.rename_axis("date").reset_index()


def jump_violations(jumps: pd.DataFrame, limits: JumpLimits) -> pd.DataFrame:
    """Rows of ``jumps`` beyond a limit on a day without a regime change."""
    if not limits.enabled or jumps.empty:
        return jumps.iloc[0:0]
    bad = pd.Series(False, index=jumps.index)
    if limits.max_turnover is not None:
        bad |= jumps["turnover"] > limits.max_turnover
    if limits.max_exposure_change is not None:
        bad |= jumps["exposure_change"] > limits.max_exposure_change
    return jumps.loc[bad & ~jumps["regime_changed"]]


def guard_publish(
    new: pd.DataFrame,
    previous: pd.DataFrame | None,
    limits: JumpLimits,
    reference: pd.Series | None = None,
) -> pd.DataFrame:
    """Raise PublishError naming the first day that jumps beyond ``limits``; else the jumps."""
    jumps = weight_jumps(new, previous, reference)
    bad = jump_violations(jumps, limits)
    if not bad.empty:
        r = bad.iloc[0]
        raise PublishError(
            f"refusing to publish {pd.Timestamp(r['date']).date()}: turnover {r['turnover']:.3f} "
            f"and exposure change {r['exposure_change']:.3f} since "
            f"{pd.Timestamp(r['prev_date']).date()} exceed the limits "
            f"({ENV_TURNOVER}={limits.max_turnover}, {ENV_EXPOSURE}={limits.max_exposure_change}) "
            f"with no regime change (still {r['regime']}); {len(bad)} such days in this run"
        )
    return jumps
