"""Daily target weights from registered allocators, never from a model that saw the date.

For each date the model used is the registered allocator with the latest training end strictly
before that date, so a 20-year backfill uses the walk-forward fold models and new days use the
newest production model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from riskalloc.allocate.artefacts import KIND, load_allocator
from riskalloc.allocate.dataset import AllocatorData
from riskalloc.allocate.publish import TARGET_WEIGHT_COLUMNS
from riskalloc.allocate.strategy import allocation_frame
from riskalloc.errors import ModelError


def pick_model(registry: pd.DataFrame, date: pd.Timestamp) -> str | None:
    """Version of the allocator trained most recently before ``date`` (None if there is none)."""
    reg = registry.loc[registry["kind"] == KIND]
    ok = reg.loc[pd.to_datetime(reg["train_end"]) < pd.Timestamp(date)]
    if ok.empty:
        return None
    ok = ok.sort_values(["train_end", "trained_at", "version"])
    return str(ok["version"].iloc[-1])


def target_weights_for(
    dates: pd.DatetimeIndex,
    data: AllocatorData,
    registry: pd.DataFrame,
    models_dir: str | Path,
    asset_classes: dict[str, str],
    progress: bool = False,
) -> tuple[pd.DataFrame, list[pd.Timestamp]]:
    """Rows of ``target_weights`` for ``dates`` and the dates skipped (no inputs or no model)."""
    frames, skipped = [], []
    plan: dict[str, list[int]] = {}
    for d in dates:
        version = pick_model(registry, d)
        if version is None or d not in data.dates:
            skipped.append(pd.Timestamp(d))
            continue
        plan.setdefault(version, []).append(int(data.dates.get_loc(d)))
    for version, idx in tqdm(plan.items(), desc="target weights", disable=not progress):
        trained = load_allocator(Path(models_dir) / KIND / version)
        if list(trained.tickers) != list(data.tickers):
            raise ModelError(
                f"allocator {version} was trained on {trained.tickers}, the universe now has "
                f"{data.tickers}; retrain it"
            )
        df = allocation_frame(trained, data, np.asarray(idx), asset_classes)
        df["model_version"] = version
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=[*TARGET_WEIGHT_COLUMNS, "asset_class", "target_vol"]), skipped
    out = pd.concat(frames, ignore_index=True).sort_values(["date", "ticker"])
    return out.reset_index(drop=True), skipped
