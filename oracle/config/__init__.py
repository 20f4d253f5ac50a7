"""Configuration: typed settings, presets, environment overrides, and the generated reference."""

from oracle.config.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
