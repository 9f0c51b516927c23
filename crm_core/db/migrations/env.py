"""Alembic environment: the URL comes from crm_core.db.migrate (never from an ini file)."""
from alembic import context

from crm_core.db.models import Base
from crm_core.db.session import make_engine

config = context.config


def run_migrations_online() -> None:
    url = config.attributes["database_url"]
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata,
                          render_as_batch=engine.dialect.name == "sqlite", compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
