"""Admin configuration: typed schema, YAML loading with ${ENV} secrets, and checks that
name the exact key path of every problem."""
from crm_core.config.loader import ConfigError, load_config, resolve_config_path
from crm_core.config.schema import AppConfig

__all__ = ["AppConfig", "ConfigError", "load_config", "resolve_config_path"]
