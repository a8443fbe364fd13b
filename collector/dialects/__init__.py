"""Storage dialects: what differs between the databases the collector stores into, one module each.

Everything else in the collector is portable SQLAlchemy. A module here that defines `DIALECT` (an
object meeting the `Dialect` protocol) is found by `pkgutil` and picked by SQLAlchemy's dialect name
(`postgresql`, `sqlite`), so adding a storage backend means adding one module here (plus its tests);
modules without `DIALECT` (such as `timescale`) are helpers of one dialect.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeEngine

from contract import DriftlineError


class UnknownDialectError(DriftlineError, ValueError):
    """A database the collector has no storage dialect for."""


class Dialect(Protocol):
    """One storage backend: every place where the collector's SQL or storage differs per database."""

    #: SQLAlchemy's name for the dialect (`engine.dialect.name`, `URL.get_backend_name()`).
    name: str
    #: The type of JSON columns in DDL the migrations write (ALTER TABLE ... ADD COLUMN).
    json_ddl: str
    #: The SQLAlchemy type JSON columns take on this dialect; None for the generic JSON type.
    json_column: TypeEngine[Any] | None
    #: Whether datetimes are stored naive (in UTC) because the database keeps no time zone.
    naive_datetimes: bool
    #: The driver's own exceptions (raised outside SQLAlchemy, e.g. by COPY) meaning the store is
    #: unavailable (the API answers 503), and meaning it refused a value (422).
    unavailable_errors: tuple[type[Exception], ...]
    rejected_errors: tuple[type[Exception], ...]

    def make_engine(self, url: URL, json_serializer: Callable[[Any], str]) -> Engine:
        """An engine for this database, configured for the collector's loop and API sharing it."""
        ...

    def missing_database(self, url: URL) -> str | None:
        """Where a file database named by `url` should be but is not (connecting would create an empty
        one), for readers that must never create one; None where it is there or lives on a server."""
        ...

    def insert(self, table: Table) -> Insert:
        """This dialect's INSERT on `table`, which knows ON CONFLICT (do nothing / do update)."""
        ...

    def datetime_reader(self) -> Callable[[Any], dt.datetime | None] | None:
        """How a stored datetime column value is read back, or None for the driver's own reading."""
        ...

    def insert_records(
        self,
        conn: Connection,
        *,
        model: str,
        version: str,
        batch_id: str,
        received_at: dt.datetime,
        records: Sequence[Any],
    ) -> list[int]:
        """Bulk-store validated records, keeping any already stored; returns the positions of the new ones."""
        ...

    def insert_rows(
        self, conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Bulk-insert rows already bound for the driver (tuples in `columns` order) whose keys nothing stored
        holds: the fastest path the driver has (COPY on PostgreSQL)."""
        ...

    def lock_version(self, conn: Connection, key: int, *, shared: bool) -> None:
        """Lock one model version's aggregates until the transaction ends: shared for ingest, exclusive for
        a rebuild on a new reference (a no-op where writers are serialised anyway)."""
        ...

    def refresh_statistics(self, conn: Connection, tables: Sequence[str]) -> None:
        """After a bulk load, let the planner see the new row counts (a no-op where it needs none)."""
        ...

    def set_primary_key(self, conn: Connection, table: Table, columns: Sequence[str]) -> None:
        """Change an existing table's primary key to `columns` (the key `table` now defines)."""
        ...

    def prepare_rekey(self, conn: Connection, table: Table) -> None:
        """Before a migration changes `table`'s columns and key: undo what forbids that (compressed chunks),
        for `setup_time_series` to set up again afterwards."""
        ...

    def setup_time_series(self, engine: Engine) -> bool:
        """Turn the time-series tables into the database's time-series form where it has one (after
        migrations); True where it did."""
        ...

    def delete_some(self, table: str, where: str) -> str:
        """A DELETE of at most `:n` rows of `table` matching the SQL condition `where`, found by their
        physical row ids (one batch of `collector.retention`)."""
        ...

    def retention_policies(self, engine: Engine, drop_after: Mapping[str, int]) -> set[str]:
        """Let the database drop old rows itself where it can (TimescaleDB's retention policies), given
        periods in seconds by table; returns the tables it now drops rows of (the rest are deleted in
        batches by `collector.retention`)."""
        ...


#: Dialect modules left out because a driver they import is not installed: module name -> the error.
_UNAVAILABLE: dict[str, str] = {}


@functools.cache
def registered() -> Mapping[str, Dialect]:
    """Every dialect module in this package, by SQLAlchemy dialect name (imported once, on first use).

    A module whose database driver is not installed (an optional extra) is left out, not fatal: the
    collector still runs on the others, and asking for that database names the missing driver."""
    found: dict[str, Dialect] = {}
    for info in pkgutil.iter_modules(__path__):
        try:
            module = importlib.import_module(f"{__name__}.{info.name}")
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.startswith(__name__.split(".")[0]):
                raise  # a broken module of ours, not a missing driver
            _UNAVAILABLE[info.name] = str(exc)
            continue
        dialect = getattr(module, "DIALECT", None)
        if dialect is not None:
            found[dialect.name] = dialect
    return found


def named(name: str) -> Dialect:
    """The dialect of this SQLAlchemy dialect name."""
    try:
        return registered()[name]
    except KeyError:
        known = ", ".join(sorted(registered()))
        missing = "".join(
            f"; collector/dialects/{m}.py needs a driver ({why})" for m, why in _UNAVAILABLE.items()
        )
        raise UnknownDialectError(
            f"no storage dialect for {name!r} databases: the collector stores into {known}{missing}"
        ) from None


def of(bind: Session | Connection | Engine) -> Dialect:
    """The dialect of a session's, connection's or engine's database."""
    target = bind.get_bind() if isinstance(bind, Session) else bind
    return named(target.dialect.name)


def for_url(url: str | URL) -> Dialect:
    """The dialect of a SQLAlchemy URL (`postgresql://...`, `sqlite:///driftline.db`)."""
    return named(make_url(url).get_backend_name())


__all__ = ["Dialect", "UnknownDialectError", "for_url", "named", "of", "registered"]
