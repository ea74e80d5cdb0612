"""Log lines written while an event is handled carry its ids."""

from __future__ import annotations

import json

import pytest

from shared.logging import batch_context, configure_logging, event_context, get_logger


def test_a_line_logged_while_handling_an_event_carries_its_event_and_correlation_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    with event_context("e-1", "c-1"):
        get_logger("test").info("handled")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert (line["event_id"], line["correlation_id"]) == ("e-1", "c-1")


def test_a_line_logged_for_a_batch_carries_every_event_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    with batch_context([("e-1", "c-1"), ("e-2", "c-1")]):
        get_logger("test").info("handled")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event_ids"] == ["e-1", "e-2"]
    assert line["correlation_ids"] == ["c-1"]


def test_an_exception_logged_in_the_console_format_shows_no_local_variables(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "console")

    def fail(email: str) -> None:
        raise ValueError("boom")

    # Built at runtime so the address is in a local variable, not in a source line of the traceback.
    address = "@".join(["anna.de.vries", "example.nl"])
    try:
        fail(address)
    except ValueError:
        get_logger("test").exception("failed")
    err = capsys.readouterr().err
    assert "boom" in err
    assert "anna.de.vries@example.nl" not in err
