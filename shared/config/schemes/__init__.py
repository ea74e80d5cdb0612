"""Packaged configuration files (data only)."""
