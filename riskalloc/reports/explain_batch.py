"""SHAP for every published weight: one batched permutation-Shapley pass over many dates.

Same players, reference and game as :mod:`riskalloc.reports.allocation_game` (macro features, asset
feature types, vol forecasts; a player at 0 sits at the training reference, at 1 at the day's
value). Instead of one explainer call per date, every date's coalitions go through the model in
large batches, with the same antithetic permutations for all dates. Along each permutation the
marginal contributions telescope, so base + Σ SHAP = output holds exactly (to float rounding;
checked on every date). With ``orders="all"`` (p! permutations, small p) the values are the
exact Shapley values; with sampled orders they are the usual unbiased permutation estimate.

The model is reached only through a *game factory*: ``allocation_game_batch`` here, or any
per-date game such as :func:`riskalloc.reports.allocation_game.allocation_game` via
:func:`per_date_games`, so a different production model plugs in without changes here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from riskalloc.allocate.artefacts import KIND, load_allocator
from riskalloc.allocate.dataset import AllocatorData
from riskalloc.allocate.train import TrainedNetwork
from riskalloc.errors import ModelError
from riskalloc.reports.allocation_game import output_names, player_names
from riskalloc.reports.shap_attributions import ShapResult

BatchGame = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (z (m, p), date row j (m,)) → (m, q)
GameFactory = Callable[[TrainedNetwork, AllocatorData, np.ndarray, np.ndarray], BatchGame]
N_PAIRS = 8  # antithetic permutation pairs per date: 16 × (p − 1) + 2 model rows per date
CHUNK_ROWS = 2048


def allocation_game_batch(
    trained: TrainedNetwork, data: AllocatorData, idx: np.ndarray, ref_vol: np.ndarray
) -> BatchGame:
    """The allocation game of :func:`~riskalloc.reports.allocation_game.allocation_game` for all
    dates ``idx`` at once: row r of z plays on date ``idx[j[r]]``."""
    q, p = len(data.macro_features), len(data.asset_features)
    norm = trained.norm
    a_t = (data.asset_x[idx].astype(float) - norm.asset_mean) / norm.asset_std  # (n, N, p)
    m_t = (data.macro_x[idx].astype(float) - norm.macro_mean) / norm.macro_std  # (n, q)
    lv_t, lv_ref = np.log(data.vol[idx]), np.log(ref_vol)
    load, uniq = data.loadings[idx], data.uniq[idx]
    model = trained.model
    model.eval()

    def fn(z: np.ndarray, j: np.ndarray) -> np.ndarray:
        zm, za, zv = z[:, :q], z[:, q : q + p], z[:, q + p]
        macro = np.clip(zm * m_t[j], -5, 5)
        asset = np.clip(za[:, None, :] * a_t[j], -5, 5)
        vol = np.exp(lv_ref[None, :] + zv[:, None] * (lv_t[j] - lv_ref[None, :]))
        with torch.no_grad():
            out = model(
                torch.from_numpy(asset.astype(np.float32)),
                torch.from_numpy(macro.astype(np.float32)),
                torch.from_numpy(vol),
                torch.from_numpy(load[j]),
                torch.from_numpy(uniq[j]),
            )
        return np.column_stack([out.budgets.double().numpy(), out.exposure.double().numpy()])

    return fn


def per_date_games(
    per_date: Callable[[TrainedNetwork, AllocatorData, int, np.ndarray], Callable],
) -> GameFactory:
    """A :data:`GameFactory` from a per-date game ``per_date(trained, data, t, ref_vol)``."""

    def factory(
        trained: TrainedNetwork, data: AllocatorData, idx: np.ndarray, ref_vol: np.ndarray
    ) -> BatchGame:
        games = [per_date(trained, data, int(t), ref_vol) for t in idx]

        def fn(z: np.ndarray, j: np.ndarray) -> np.ndarray:
            out = None
            for k in np.unique(j):
                rows = j == k
                val = np.asarray(games[int(k)](z[rows]), dtype=float)
                out = np.empty((len(z), val.shape[1])) if out is None else out
                out[rows] = val
            return out

        return fn

    return factory


def permutation_orders(p: int, n_pairs: int | str = N_PAIRS, seed: int = 0) -> np.ndarray:
    """Player orders (K, p): ``n_pairs`` random orders and their reverses, or ``"all"`` p!."""
    if n_pairs == "all":
        if p > 8:
            raise ModelError(f"all {p}! orders is too many; use sampled antithetic pairs")
        return np.array(list(itertools.permutations(range(p))), dtype=int)
    rng = np.random.default_rng(seed)
    first = np.stack([rng.permutation(p) for _ in range(int(n_pairs))])
    return np.concatenate([first, first[:, ::-1]])


@dataclass(frozen=True)
class _Plan:
    """The coalitions every date plays: none, all, then each order's interior prefixes."""

    orders: np.ndarray  # (K, p)
    masks: np.ndarray  # (R, p), R = 2 + K (p − 1)

    @classmethod
    def build(cls, orders: np.ndarray) -> _Plan:
        k, p = orders.shape
        masks = np.zeros((2 + k * (p - 1), p))
        masks[1] = 1.0
        r = 2
        for o in orders:
            for s in range(1, p):
                masks[r, o[:s]] = 1.0
                r += 1
        return cls(orders, masks)

    def values(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SHAP (p, q) and base (q,) from one date's outputs f (R, q) on ``masks``."""
        k, p = self.orders.shape
        none, full = f[0], f[1]
        inner = f[2:].reshape(k, p - 1, -1)
        path = np.concatenate(
            [
                np.broadcast_to(none, (k, 1, f.shape[1])),
                inner,
                np.broadcast_to(full, (k, 1, f.shape[1])),
            ],
            axis=1,
        )  # (K, p + 1, q): value after adding each player in order
        steps = np.diff(path, axis=1)  # (K, p, q): marginal contribution of order[k, s]
        phi = np.zeros((p, f.shape[1]))
        for o, st in zip(self.orders, steps, strict=True):
            phi[o] += st
        return phi / k, none


def batched_shapley(
    game: BatchGame,
    n_dates: int,
    p: int,
    n_pairs: int | str = N_PAIRS,
    seed: int = 0,
    chunk_rows: int = CHUNK_ROWS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SHAP values (n, p, q), base values (n, q) and full outputs (n, q) for ``n_dates`` dates.

    Every date plays the same coalitions; rows of many dates are evaluated in one call.
    """
    plan = _Plan.build(permutation_orders(p, n_pairs, seed))
    r = len(plan.masks)
    per_chunk = max(1, chunk_rows // r)
    values, bases, fulls = [], [], []
    for lo in range(0, n_dates, per_chunk):
        j = np.arange(lo, min(n_dates, lo + per_chunk))
        z = np.tile(plan.masks, (len(j), 1))
        out = np.asarray(game(z, np.repeat(j, r)), dtype=float)
        for k in range(len(j)):
            f = out[k * r : (k + 1) * r]
            phi, base = plan.values(f)
            values.append(phi)
            bases.append(base)
            fulls.append(f[1])
    return np.stack(values), np.stack(bases), np.stack(fulls)


def explain_dates(
    trained: TrainedNetwork,
    data: AllocatorData,
    idx: np.ndarray | list[int],
    n_pairs: int | str = N_PAIRS,
    seed: int = 0,
    atol: float = 1e-6,
    game_factory: GameFactory = allocation_game_batch,
    expected: np.ndarray | None = None,
) -> ShapResult:
    """Batched SHAP of budgets and exposure at rows ``idx``, local accuracy checked per date.

    ``expected`` (n, q): the published outputs; attributions must add up to them too.
    """
    idx = np.asarray(idx, int)
    players, outputs = player_names(data), output_names(data)
    ref_vol = np.median(data.vol, axis=0)
    game = game_factory(trained, data, idx, ref_vol)
    values, base, full = batched_shapley(game, len(idx), len(players), n_pairs, seed)
    res = ShapResult(
        values=values,
        base_values=base,
        feature_names=players,
        output_names=outputs,
        dates=pd.Index(data.dates[idx], name="date"),
        method=f"batched-permutation({n_pairs})",
    )
    target = full if expected is None else np.asarray(expected, dtype=float)
    err = np.abs(res.reconstructed() - target)
    if err.size and float(err.max()) > atol:
        i, q = np.unravel_index(int(err.argmax()), err.shape)
        raise ModelError(
            f"SHAP local accuracy fails: {outputs[q]!r} on {res.dates[i].date()} is off by "
            f"{float(err.max()):.3g} (atol {atol:g})"
        )
    return res


def explain_published(
    weights: pd.DataFrame,
    data: AllocatorData,
    models_dir: str | Path,
    n_pairs: int | str = N_PAIRS,
    seed: int = 0,
    game_factory: GameFactory = allocation_game_batch,
) -> pd.DataFrame:
    """``shap_attributions`` rows (with base values) for every date of published ``weights``.

    Each date is explained with the allocator that published it (``model_version``), and its
    attributions must add up to the *published* risk budgets and exposure (1e-6).
    """
    frames = []
    for version, g in weights.groupby("model_version", sort=True):
        trained = load_allocator(Path(models_dir) / KIND / str(version))
        dates = pd.DatetimeIndex(pd.to_datetime(g["date"]).unique()).sort_values()
        idx = data.dates.get_indexer(dates)
        wide = g.assign(date=pd.to_datetime(g["date"])).pivot(
            index="date", columns="ticker", values="risk_budget"
        )
        budgets = wide.reindex(index=dates, columns=list(data.tickers)).to_numpy(float)
        expo = g.groupby(pd.to_datetime(g["date"]))["exposure"].first().reindex(dates)
        expected = np.column_stack([budgets, expo.to_numpy(float)])
        res = explain_dates(
            trained, data, idx, n_pairs, seed, game_factory=game_factory, expected=expected
        )
        frames.append(res.to_frame(include_base=True))
    return pd.concat(frames, ignore_index=True)


def n_model_rows(p: int, n_pairs: int = N_PAIRS) -> int:
    """Model evaluations per explained date."""
    return 2 + 2 * n_pairs * (p - 1)


def exact_orders_feasible(p: int) -> bool:
    """Whether all p! orders (exact Shapley) are cheap enough to enumerate."""
    return math.factorial(p) <= 40320
