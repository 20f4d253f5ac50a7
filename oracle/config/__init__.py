"""Configuration: typed settings, presets, environment overrides, and the generated reference."""

from oracle.config.loading import load_settings
from oracle.config.settings import ConfigError, Settings

__all__ = ["ConfigError", "Settings", "load_settings"]
