"""The schema Alembic builds is the schema the models describe, on both databases: a model
added without its migration (or a migration without its model) fails here, not in production
at the first query. Alembic's own comparison (`compare_metadata`) is the judge."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from crm_core.db import Database
from crm_core.db.models import Base


def _differences(url: str) -> list:
    database = Database(url)
    try:
        with database.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": False,
                                                         "compare_server_default": False})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        database.dispose()
    return [d for d in diff if not (isinstance(d, tuple) and d[0] == "remove_table"
                                    and d[1].name == "alembic_version")]


def test_migrated_schema_matches_the_models(db_url):  # noqa: ANN001
    assert _differences(db_url) == []


def test_a_model_without_its_migration_is_noticed(db_url):  # noqa: ANN001
    """The check can fail: the models plus one table no migration creates show a difference."""
    from sqlalchemy import Column, Integer, MetaData, Table
    extra = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(extra)
    Table("not_migrated", extra, Column("id", Integer, primary_key=True))
    database = Database(db_url)
    try:
        with database.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), extra)
    finally:
        database.dispose()
    assert [d[1].name for d in diff if d[0] == "add_table"] == ["not_migrated"]
