"""Scheduled jobs (APScheduler) calling the same crm_core services the handlers use."""
