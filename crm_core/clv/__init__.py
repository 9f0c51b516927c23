"""Customer lifetime value (issue 18): pure attribution and value models; the services that
read and write the tables are crm_core/services/clv_*.py. See docs/clv.md."""
