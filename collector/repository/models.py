"""Registered models and the projects they belong to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from collector import db
from collector.repository._sql import insert


def register_models(
    conn: Session, *, names: Iterable[str], source: str, project: str = db.DEFAULT_PROJECT
) -> None:
    """Register models in a project; one already registered keeps its project (see `set_model_projects`)."""
    rows = [{"name": n, "source": source, "created_at": db.utcnow(), "project": project} for n in names]
    if rows:
        conn.execute(insert(conn, db.RegisteredModel).on_conflict_do_nothing(), rows)


def set_model_projects(conn: Session, *, projects: Mapping[str, str], source: str) -> None:
    """Register models with their projects, moving any already registered into the project given (the
    spec is the authority on the projects of the models it declares)."""
    for project in sorted(set(projects.values())):
        names = [n for n, p in projects.items() if p == project]
        register_models(conn, names=names, source=source, project=project)
        conn.execute(
            update(db.RegisteredModel)
            .where(db.RegisteredModel.name.in_(names), db.RegisteredModel.project != project)
            .values(project=project)
        )


def model_names(conn: Session) -> list[str]:
    """Every registered model's name, sorted."""
    return list(conn.scalars(select(db.RegisteredModel.name).order_by(db.RegisteredModel.name)))


def model_projects(conn: Session) -> dict[str, str]:
    """Every registered model's project, by model name."""
    stmt = select(db.RegisteredModel.name, db.RegisteredModel.project).order_by(db.RegisteredModel.name)
    return {name: project for name, project in conn.execute(stmt)}


def model_versions(conn: Session) -> dict[str, list[str]]:
    """Versions seen per model, from records and stats."""
    out: dict[str, set[str]] = {}
    for table in (db.Record, db.Stats):
        for m, v in conn.execute(select(table.model, table.version).distinct()):
            out.setdefault(m, set()).add(v)
    return {m: sorted(vs) for m, vs in out.items()}
