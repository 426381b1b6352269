"""The app's tables and columns flowmetrics reads, checked before a refresh reads anything.

SQLAlchemy's inspector reads the catalog (a read-only role suffices). A missing table or
column is one SourceError naming it, instead of a failure halfway through a read.
"""

from __future__ import annotations

from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from etl.database import redact, sqlalchemy_url, translate
from etl.errors import SourceError

REQUIRED: dict[str, tuple[str, ...]] = {
    "users": ("id", "account_id", "name", "is_active", "is_team_admin", "is_super_admin"),
    "trees": ("id", "account_id", "name", "tree_structure"),
    "sessions": ("id", "tree_id", "user_id", "started_at", "completed_at", "outcome", "decisions"),
    "session_ratings": ("id", "session_id", "tree_id", "rating", "comment", "created_at"),
}
OPTIONAL: dict[str, tuple[str, ...]] = {"step_ratings": ("id", "tree_id", "node_id", "helpful", "created_at")}


def check_source(url: str) -> None:
    """Raise SourceError naming the first table or column of the contract the source lacks."""
    engine = create_engine(sqlalchemy_url(url), connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            tables = set(inspector.get_table_names())
            for table, columns in {**REQUIRED, **OPTIONAL}.items():
                if table not in tables:
                    if table in REQUIRED:
                        raise SourceError(
                            f"the source {redact(url)} has no table {table}: is DATABASE_URL the app's database?"
                        )
                    continue
                present = {column["name"] for column in inspector.get_columns(table)}
                missing = [column for column in columns if column not in present]
                if missing:
                    raise SourceError(
                        f"the source's table {table} lacks column {', '.join(missing)}: "
                        "the app's schema differs from what flowmetrics reads (docs: source contract)"
                    )
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None)
        raise translate(cause if isinstance(cause, BaseException) else exc, url) from exc
    finally:
        engine.dispose()
