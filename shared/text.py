"""Text that PostgreSQL cannot store: NUL (refused in ``text`` and ``jsonb``) and lone UTF-16
surrogates (no UTF-8 form). Input holding either is refused where it comes in, with where."""

from __future__ import annotations

import re
from collections.abc import Iterator

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

Location = tuple[str | int, ...]


def storable(text: str) -> bool:
    """False when ``text`` holds a character PostgreSQL refuses."""
    return _UNSTORABLE.search(text) is None


def unstorable_places(value: object, where: Location = ()) -> Iterator[Location]:
    """Where in a parsed JSON value (keys included) a string holds such a character."""
    if isinstance(value, str):
        if not storable(value):
            yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            shown = _shown(key)
            if not storable(key):
                yield (*where, shown)
            yield from unstorable_places(item, (*where, shown))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_places(item, (*where, index))


def _shown(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udxxx``, so it can be answered in JSON."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
