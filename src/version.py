"""The package version, in a module that imports nothing (read by every layer)."""

__version__ = "0.1.0"
