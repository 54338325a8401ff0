"""Universe files: which tickers and FRED series to use, and what each one is."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import get_args

import yaml

from riskalloc.errors import ConfigError
from riskalloc.typing import AssetClass, SeriesRole

ASSET_CLASSES: tuple[str, ...] = get_args(AssetClass)
SERIES_ROLES: tuple[str, ...] = get_args(SeriesRole)


@dataclass(frozen=True, slots=True)
class Asset:
    """One tradable ticker and its asset class."""

    ticker: str
    asset_class: str

    def __post_init__(self) -> None:
        if not self.ticker or not str(self.ticker).strip():
            raise ConfigError("empty ticker in universe file")
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


def load_universe(path: str | Path | None = None) -> Universe:
    """Load and validate a universe YAML file (the bundled default when ``path`` is None)."""
    p = Path(path) if path is not None else default_universe_path()
    if not p.is_file():
        raise ConfigError(f"universe file not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"universe file {p} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or "assets" not in raw:
        raise ConfigError(f"universe file {p} needs a top-level 'assets' list")
    try:
        assets = tuple(Asset(str(a["ticker"]), str(a["asset_class"])) for a in raw["assets"])
        series = tuple(
            Series(str(s["series_id"]), str(s.get("role", "other")))
            for s in raw.get("series") or []
        )
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"universe file {p}: malformed entry ({exc!r})") from exc
    return Universe(
        name=str(raw.get("name", p.stem)),
        assets=assets,
        series=series,
        cash=raw.get("cash"),
        risk_free_rate=raw.get("risk_free_rate"),
        equity_proxy=raw.get("equity_proxy"),
    )
