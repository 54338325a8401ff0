"""One exception hierarchy so callers can catch at any level.

Every message names the offending ticker, series, file or date and says what to do.
"""

from __future__ import annotations


class RiskallocError(Exception):
    """Base class of every error raised by riskalloc."""


class DataError(RiskallocError, ValueError):
    """Input data is malformed, incomplete or implausible."""


class SchemaError(DataError):
    """A frame or file does not have the expected columns or types."""


class DownloadError(DataError):
    """A remote source (Yahoo, FRED) failed or returned nothing usable."""


class StaleDataError(DataError):
    """A series stopped updating."""


class ConfigError(RiskallocError, ValueError):
    """A universe file or run configuration is invalid."""


class WarehouseError(RiskallocError, RuntimeError):
    """The warehouse could not be read or written."""


class WarehouseLockedError(WarehouseError):
    """Another process holds the DuckDB write lock."""


class SolverError(RiskallocError, ArithmeticError):
    """A numerical solver failed (bad input, singular matrix)."""


class NotConvergedError(SolverError):
    """An iterative solver did not reach its tolerance."""


class ModelError(RiskallocError, RuntimeError):
    """A model artefact is missing, corrupt or incompatible."""


class PublishError(RiskallocError, RuntimeError):
    """Weights failed a constraint and were not published."""
