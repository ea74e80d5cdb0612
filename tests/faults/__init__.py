"""Fault injection on the real components: broker, database, SMTP and services failing mid-work."""
