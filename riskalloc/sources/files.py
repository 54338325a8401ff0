"""The user's own prices / macro series from CSV or Parquet files, wide or long.

Wide: a ``date`` column plus one numeric column per ticker (adjusted close) or series.
Long: ``date,ticker,adj_close[,open,high,low,close,volume]`` or
``date,series_id,value[,available_at]``. The layout is detected from the column names;
every problem is reported with the file name.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskalloc.errors import ConfigError, DataError, SchemaError
from riskalloc.sources._retry import (
    DateLike,
    incremental_start,
    no_rows_message,
    to_timestamp,
)
from riskalloc.sources.schema import (
    MACRO_COLUMNS,
    PRICE_COLUMNS,
    macro_from_wide,
    next_business_day,
    normalize_dates,
    prices_from_wide,
    validate_macro,
    validate_prices,
)

SOURCE_NAME = "files"
SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet")


def _clean_name(name: object) -> str:
    return str(name).strip().lower().replace(" ", "_")


def read_table(path: Path, na_values: Sequence[str] = ()) -> pd.DataFrame:
    """Read a .csv / .csv.gz / .parquet file that has one ``date`` column (any case)."""
    name = path.name.lower()
    if not any(name.endswith(s) for s in SUFFIXES):
        raise SchemaError(f"{path}: unsupported file type; use one of {list(SUFFIXES)}")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        if name.endswith(".parquet"):
            df = pd.read_parquet(path)
            if "date" not in map(_clean_name, df.columns) and df.index.name is not None:
                df = df.reset_index()
            header = [str(c) for c in df.columns]
        else:
            header = _csv_header(path)
            df = pd.read_csv(path, na_values=list(na_values))
    except Exception as exc:  # parser, decoding, arrow and compression errors alike
        raise SchemaError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None
    names = pd.Index([str(c).strip() for c in header])
    blank = [i + 1 for i, n in enumerate(names) if not n]
    if blank:
        raise SchemaError(f"{path}: columns {blank} have no header; name every column")
    folded = pd.Index([n.upper() for n in names])
    if folded.has_duplicates:  # pandas would rename the second 'SPY' to 'SPY.1'
        dup = sorted({n for n, f in zip(names, folded, strict=True) if (folded == f).sum() > 1})
        raise SchemaError(f"{path}: duplicate column headers {dup}; each column once")
    if len(names) != len(df.columns):
        raise SchemaError(f"{path}: header has {len(names)} names, rows {len(df.columns)}")
    df.columns = list(names)
    date_cols = [c for c in df.columns if _clean_name(c) == "date"]
    if len(date_cols) != 1:
        raise SchemaError(f"{path}: no single 'date' column; columns are {list(df.columns)}")
    df = df.rename(columns={date_cols[0]: "date"})
    if df.empty:
        raise DataError(f"{path}: no rows")
    df["date"] = normalize_dates(df["date"], str(path))
    return df


def _csv_header(path: Path) -> list[str]:
    """The raw header row of a CSV (pandas renames duplicates, so read it ourselves)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:  # as pandas: BOM dropped
        return next(csv.reader(fh), [])


def _long_layout(df: pd.DataFrame, key: str, path: Path) -> pd.DataFrame | None:
    """The frame with cleaned column names if it is long (has a ``key`` column), else None."""
    cleaned = {c: _clean_name(c) for c in df.columns}
    if key not in cleaned.values():
        return None
    names = pd.Index(list(cleaned.values()))
    if names.has_duplicates:
        raise SchemaError(f"{path}: columns {sorted(set(names[names.duplicated()]))} given twice")
    return df.rename(columns=cleaned)


def _check_numeric(df: pd.DataFrame, columns: Sequence[str], path: Path) -> pd.DataFrame:
    out = df.copy()
    for col in columns:
        values = pd.to_numeric(out[col], errors="coerce")
        bad = values.isna() & out[col].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise SchemaError(
                f"{path}: column {col!r} is not numeric, e.g. {out[col].iloc[i]!r} on "
                f"{out['date'].iloc[i].date()}"
            )
        out[col] = values.astype("float64")
    return out


def _check_order(df: pd.DataFrame, key: str | None, path: Path) -> None:
    """Dates must be increasing (per key in long files); exact duplicates are reported later."""
    groups = [df] if key is None else [g for _, g in df.groupby(key, sort=False)]
    for g in groups:
        if not g["date"].is_monotonic_increasing:
            who = "" if key is None else f" for {key} {g[key].iloc[0]!r}"
            raise DataError(f"{path}: dates are not in increasing order{who}")


def _wide(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    cols = [c for c in df.columns if c != "date"]
    if not cols:
        raise SchemaError(f"{path}: only a date column; add one column per ticker/series")
    dup = df["date"][df["date"].duplicated()]
    if len(dup):
        raise DataError(f"{path}: duplicate dates {[str(d.date()) for d in dup.unique()[:5]]}")
    _check_order(df, None, path)
    return _check_numeric(df, cols, path).set_index("date")


def _window(
    long: pd.DataFrame,
    keys: Sequence[str] | None,
    key: str,
    what: str,
    start: DateLike | None,
    end: DateLike | None,
    since: Mapping[str, DateLike] | None,
    overlap: int,
) -> pd.DataFrame:
    """Keep requested keys and dates from (incremental) start to end, inclusive."""
    if keys is not None:
        unknown = sorted(set(keys) - set(long[key]))
        if unknown:
            have = sorted(set(long[key]))
            raise DataError(f"{what}: {key} {unknown} not in the file; it has {have[:20]}")
        long = long[long[key].isin(list(keys))]
    last = to_timestamp(end)
    # one start per key, not per row: a 500-ticker file has millions of rows
    got = since or {}
    starts = {k: incremental_start(start, got.get(k), overlap) for k in long[key].unique()}
    firsts = long[key].map(starts)
    keep = pd.Series(True, index=long.index)
    has_first = firsts.notna()
    keep[has_first] = long.loc[has_first, "date"] >= firsts[has_first].astype("datetime64[ns]")
    if last is not None:
        keep &= long["date"] <= last
    out = long[keep]
    if keys is not None:
        present = set(out[key].unique())  # once: per key it made the window O(keys x rows)
        absent = [k for k in dict.fromkeys(keys) if k not in present]
        if absent:
            held = long[long[key].isin(absent)].groupby(key)["date"].agg(["min", "max"])
            file_range = {
                k: f"the file has {k} from {r['min'].date()} to {r['max'].date()}"
                for k, r in held.iterrows()
            }
            raise DataError(
                no_rows_message(what, key, absent, start, end, since, overlap, file_range)
            )
    return out


@dataclass(frozen=True)
class FileSource:
    """Prices and/or macro series from local CSV or Parquet files (wide or long layout)."""

    prices_path: str | Path | None = None
    macro_path: str | Path | None = None
    overlap_days: int = 5
    macro_overlap_days: int = 10
    name: str = SOURCE_NAME

    def __post_init__(self) -> None:
        if self.prices_path is None and self.macro_path is None:
            raise ConfigError("files: give prices_path and/or macro_path")

    def load_prices(self) -> pd.DataFrame:
        """All price rows in the file, long and validated."""
        if self.prices_path is None:
            raise ConfigError("files: no prices_path given; pass prices_path=... (CSV/Parquet)")
        path = Path(self.prices_path)
        raw = read_table(path)
        df = _long_layout(raw, "ticker", path)
        if df is not None:
            if "adj_close" not in df.columns:
                raise SchemaError(f"{path}: long price file needs an 'adj_close' column")
            _check_order(df, "ticker", path)
            for c in PRICE_COLUMNS:
                if c not in df.columns:
                    df[c] = SOURCE_NAME if c == "source" else np.nan
            df["source"] = SOURCE_NAME
            df["ticker"] = df["ticker"].astype(str).str.strip()
            long = df.loc[:, list(PRICE_COLUMNS)]
        else:
            long = prices_from_wide(_wide(raw, path), SOURCE_NAME, str(path))
        return validate_prices(long, what=str(path))

    def load_macro(self) -> pd.DataFrame:
        """All macro rows in the file, long and validated (available_at = next business day
        unless the file gives it)."""
        if self.macro_path is None:
            raise ConfigError("files: no macro_path given; pass macro_path=... (CSV/Parquet)")
        path = Path(self.macro_path)
        raw = read_table(path, na_values=(".",))  # FRED's missing marker
        df = _long_layout(raw, "series_id", path)
        if df is not None:
            if "value" not in df.columns:
                raise SchemaError(f"{path}: long macro file needs a 'value' column")
            _check_order(df, "series_id", path)
            df = _check_numeric(df, ["value"], path).dropna(subset=["value"])
            if "available_at" in df.columns:
                df["available_at"] = normalize_dates(df["available_at"], f"{path} available_at")
            else:
                df["available_at"] = next_business_day(df["date"])
            df["source"] = SOURCE_NAME
            df["series_id"] = df["series_id"].astype(str).str.strip()
            long = df.loc[:, list(MACRO_COLUMNS)]
        else:
            long = macro_from_wide(_wide(raw, path), SOURCE_NAME, str(path))
        return validate_macro(long, what=str(path))

    def fetch_prices(
        self,
        tickers: Sequence[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
        since: Mapping[str, DateLike] | None = None,
    ) -> pd.DataFrame:
        """Long price rows for ``tickers`` (all in the file if None), dates inclusive."""
        what = str(self.prices_path)
        rows = _window(
            self.load_prices(), tickers, "ticker", what, start, end, since, self.overlap_days
        )
        return validate_prices(rows, expected=tickers, what=str(self.prices_path))

    def fetch_macro(
        self,
        series_ids: Sequence[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
        since: Mapping[str, DateLike] | None = None,
    ) -> pd.DataFrame:
        """Long macro rows for ``series_ids`` (all in the file if None), dates inclusive."""
        what = str(self.macro_path)
        rows = _window(
            self.load_macro(),
            series_ids,
            "series_id",
            what,
            start,
            end,
            since,
            self.macro_overlap_days,
        )
        return validate_macro(rows, expected=series_ids, what=str(self.macro_path))
