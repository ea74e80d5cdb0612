"""Slow fault cases (minutes each): excluded from the default run, see docs/testing.md."""
