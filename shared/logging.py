"""structlog set up once per process: JSON for machines, readable in a terminal.

Every line logged while an event is handled carries its ``event_id`` and
``correlation_id`` (bound as context variables by :func:`event_context`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is now, not what it was at configuration: a logger
    cached by structlog must not keep writing to a stream someone has since closed."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # plain_traceback: the default pretty traceback shows every frame's local
        # variables, which may hold the personal data the failing code was handling.
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    _route_standard_logging(renderer)


def _route_standard_logging(renderer: Any) -> None:
    """faststream, aiokafka and uvicorn log through the standard library: same format, quieter."""
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    # faststream reports a missing auto-create at WARNING; our services create their topics.
    logging.getLogger("tevreden.faststream").setLevel(logging.ERROR)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


@contextmanager
def event_context(event_id: object, correlation_id: object) -> Iterator[None]:
    """Bind the ids of the event being handled to every log line inside the block."""
    with structlog.contextvars.bound_contextvars(event_id=str(event_id), correlation_id=str(correlation_id)):
        yield


@contextmanager
def batch_context(ids: list[tuple[object, object]]) -> Iterator[None]:
    """Bind the ids of a batch of events: one event's ids as they are, several as lists."""
    if len(ids) == 1:
        with event_context(*ids[0]):
            yield
        return
    with structlog.contextvars.bound_contextvars(
        event_ids=[str(e) for e, _ in ids], correlation_ids=sorted({str(c) for _, c in ids})
    ):
        yield
