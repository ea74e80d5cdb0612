"""The fault suite's fixtures (tests/faults/conftest.py), for the slow cases too."""

from tests.faults.conftest import _session_stacks, make_stack, pg_server, stack

__all__ = ["_session_stacks", "make_stack", "pg_server", "stack"]
