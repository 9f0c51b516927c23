"""Storage: SQLAlchemy 2.0 models, engine/session factory and Alembic migrations."""
from crm_core.db.session import Database

__all__ = ["Database"]
