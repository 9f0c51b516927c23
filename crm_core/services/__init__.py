"""Business services: plain functions taking a SQLAlchemy session (a unit of work)."""
