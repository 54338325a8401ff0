"""Universe files: which tickers and FRED series to use, and what each one is."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, get_args

import yaml

from riskalloc.errors import ConfigError
from riskalloc.typing import AssetClass, SeriesRole

ASSET_CLASSES: tuple[str, ...] = get_args(AssetClass)
SERIES_ROLES: tuple[str, ...] = get_args(SeriesRole)
# Ticker symbols (Yahoo style: ``SPY``, ``BRK-B``, ``^VIX``, ``EURUSD=X``) and FRED ids.
TICKER_PATTERN = re.compile(r"[A-Za-z0-9^][A-Za-z0-9.\-_^=/&]{0,31}")
SERIES_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
# The universe file's schema: every key allowed at each level (anything else is refused).
TOP_KEYS = ("name", "description", "assets", "series", "cash", "risk_free_rate", "equity_proxy")
ASSET_KEYS = ("ticker", "asset_class", "name", "description")
SERIES_KEYS = ("series_id", "role", "name", "description")


@dataclass(frozen=True, slots=True)
class Asset:
    """One tradable ticker and its asset class."""

    ticker: str
    asset_class: str

    def __post_init__(self) -> None:
        if not self.ticker or not str(self.ticker).strip():
            raise ConfigError("empty ticker in universe file")
        if not TICKER_PATTERN.fullmatch(str(self.ticker)):
            shown = self.ticker if len(self.ticker) <= 40 else f"{self.ticker[:40]}..."
            raise ConfigError(
                f"ticker {shown!r} ({len(self.ticker)} characters) is not a ticker symbol: "
                "use 1-32 letters, digits or . - _ ^ = / &"
            )
        if self.asset_class not in ASSET_CLASSES:
            raise ConfigError(
                f"ticker {self.ticker!r}: unknown asset_class {self.asset_class!r}; "
                f"use one of {list(ASSET_CLASSES)}"
            )


@dataclass(frozen=True, slots=True)
class Series:
    """One FRED series and the role it plays in the macro state."""

    series_id: str
    role: str

    def __post_init__(self) -> None:
        if not SERIES_PATTERN.fullmatch(str(self.series_id)):
            shown = self.series_id if len(self.series_id) <= 40 else f"{self.series_id[:40]}..."
            raise ConfigError(
                f"series id {shown!r} is not a FRED series id: use letters, digits, _ . -"
            )
        if self.role not in SERIES_ROLES:
            raise ConfigError(
                f"series {self.series_id!r}: unknown role {self.role!r}; "
                f"use one of {list(SERIES_ROLES)}"
            )


@dataclass(frozen=True, slots=True)
class Universe:
    """Tickers with asset classes and FRED series with roles."""

    name: str
    assets: tuple[Asset, ...]
    series: tuple[Series, ...] = ()
    cash: str | None = None
    risk_free_rate: str | None = None
    equity_proxy: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        tickers = [a.ticker for a in self.assets]
        dup = sorted({t for t in tickers if tickers.count(t) > 1})
        if dup:
            raise ConfigError(f"universe {self.name!r}: duplicate tickers {dup}")
        if not tickers:
            raise ConfigError(f"universe {self.name!r}: no assets")
        if self.cash is not None and self.cash not in tickers:
            raise ConfigError(f"universe {self.name!r}: cash ticker {self.cash!r} not in assets")
        if self.equity_proxy is not None and self.equity_proxy not in tickers:
            raise ConfigError(
                f"universe {self.name!r}: equity_proxy {self.equity_proxy!r} not in assets"
            )
        ids = [s.series_id for s in self.series]
        dup_ids = sorted({i for i in ids if ids.count(i) > 1})
        if dup_ids:
            raise ConfigError(f"universe {self.name!r}: duplicate series {dup_ids}")
        if self.risk_free_rate is not None and self.risk_free_rate not in ids:
            raise ConfigError(
                f"universe {self.name!r}: risk_free_rate {self.risk_free_rate!r} "
                "not among its series"
            )

    @property
    def tickers(self) -> list[str]:
        """All tickers, in file order."""
        return [a.ticker for a in self.assets]

    @property
    def series_ids(self) -> list[str]:
        """All FRED series ids, in file order."""
        return [s.series_id for s in self.series]

    def asset_classes(self) -> dict[str, str]:
        """Map ticker -> asset class."""
        return {a.ticker: a.asset_class for a in self.assets}

    def series_with_role(self, role: str) -> list[str]:
        """Series ids playing ``role`` (e.g. ``"credit_spread"``)."""
        return [s.series_id for s in self.series if s.role == role]


def default_universe_path() -> Path:
    """Path of the universe shipped for the bundled sample data."""
    return Path(str(resources.files("riskalloc") / "universes" / "sample.yaml"))


class _StringLoader(yaml.SafeLoader):
    """YAML loader that reads every plain scalar as a string (only ``null``/``~`` stay None).

    YAML 1.1 turns ``NO``, ``ON`` and ``Y`` into booleans and ``0700`` into 448; in a
    universe file every value is a name, so nothing is converted.
    """


def _unique_mapping(loader: _StringLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """A mapping whose keys are unique: YAML would keep the last of two ``cash:`` silently."""
    seen: set[object] = set()
    for key_node, _value in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StringLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)
_StringLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag == "tag:yaml.org,2002:null"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _check_keys(entry: dict[Any, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [k for k in entry if k not in allowed]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(str(k), allowed, n=1, cutoff=0.6)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"{where}: unknown keys {', '.join(hints)}; allowed keys are {list(allowed)}"
        )


def _name(value: object, key: str, where: str, required: bool = True) -> str | None:
    """A string value of the universe file (tickers, ids, roles), never a bool or a number."""
    if value is None:
        if required:
            raise ConfigError(f"{where}: {key!r} is missing or null")
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key!r} must be a plain name, got {value!r}")
    return value.strip()


def _entries(raw: object, key: str, allowed: tuple[str, ...], where: str) -> list[dict]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: {key!r} must be a list of mappings")
    for n, entry in enumerate(raw, 1):
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: {key} entry {n} must be a mapping, got {entry!r}")
        _check_keys(entry, allowed, f"{where}: {key} entry {n}")
    return raw


def load_universe(path: str | Path | None = None) -> Universe:
    """Load and validate a universe YAML file (the bundled default when ``path`` is None).

    Unknown keys (typos like ``csah``) are refused with a suggestion, and every value is
    read as a string, so ``NO`` stays the ticker ``'NO'``.
    """
    p = Path(path) if path is not None else default_universe_path()
    if p.is_dir():
        raise ConfigError(f"universe file {p} is a directory; give the YAML file")
    if p.exists() and not p.is_file():
        raise ConfigError(f"universe file {p} is not a regular file; give the YAML file")
    if not p.is_file():
        raise ConfigError(f"universe file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
        raw = yaml.load(text, Loader=_StringLoader)  # a SafeLoader subclass: no objects
    except UnicodeDecodeError:
        raise ConfigError(f"universe file {p} is not UTF-8 text (a binary file?)") from None
    except OSError as exc:
        raise ConfigError(f"universe file {p} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())  # one line: problem and position
        raise ConfigError(f"universe file {p} is not valid YAML: {detail}") from None
    if not isinstance(raw, dict) or "assets" not in raw:
        raise ConfigError(f"universe file {p} needs a top-level 'assets' list")
    where = f"universe file {p}"
    _check_keys(raw, TOP_KEYS, where)
    assets = tuple(
        Asset(
            _name(a.get("ticker"), "ticker", f"{where}: assets entry {n}"),
            _name(a.get("asset_class"), "asset_class", f"{where}: assets entry {n}"),
        )
        for n, a in enumerate(_entries(raw["assets"], "assets", ASSET_KEYS, where), 1)
    )
    series = tuple(
        Series(
            _name(e.get("series_id"), "series_id", f"{where}: series entry {n}"),
            _name(e.get("role"), "role", f"{where}: series entry {n}", False) or "other",
        )
        for n, e in enumerate(_entries(raw.get("series"), "series", SERIES_KEYS, where), 1)
    )
    return Universe(
        name=_name(raw.get("name"), "name", where, False) or p.stem,
        assets=assets,
        series=series,
        cash=_name(raw.get("cash"), "cash", where, False),
        risk_free_rate=_name(raw.get("risk_free_rate"), "risk_free_rate", where, False),
        equity_proxy=_name(raw.get("equity_proxy"), "equity_proxy", where, False),
    )
