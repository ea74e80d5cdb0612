"""Pages for the public (the questionnaire, the opt-out link), in the two services that have
them: the same security headers, and a rate limit per client address (a token bucket each,
429 when it is empty).

The address is the one uvicorn reports: behind a proxy that sends X-Forwarded-For from a
trusted address (FORWARDED_ALLOW_IPS, 127.0.0.1 by default) it is the person's own. Loopback
itself is exempt (the demo, local checks); production limits at the proxy too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK = frozenset({"127.0.0.1", "::1"})
# No framing (clickjacking), no sniffing, no referrer leaking the token in the address, no cache.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class RateLimiter:
    """A token bucket per client: ``burst`` requests at once, then ``rate`` per second.

    Buckets that have filled up again are forgotten once there are many, so memory stays small.
    """

    def __init__(self, rate: float, burst: int, *, max_clients: int = 50_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, client: str, now: float) -> bool:
        tokens, last = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1
        self._buckets[client] = (tokens - 1 if allowed else tokens, now)
        if len(self._buckets) > self._max_clients:
            self._forget_full(now)
        return allowed

    def retry_after(self, client: str) -> int:
        """Whole seconds until ``client`` has a request again."""
        tokens, _ = self._buckets.get(client, (self.burst, 0.0))
        return max(1, int((1 - tokens) / self.rate + 0.999))

    def _forget_full(self, now: float) -> None:
        self._buckets = {
            client: (tokens, last)
            for client, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self.rate < self.burst
        }

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimitMiddleware:
    """The limiter on every path that starts with one of ``prefixes`` (for ``methods`` only, when
    given); ``refusal`` makes the 429 answer (with its Retry-After, in whole seconds)."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        prefixes: tuple[str, ...],
        refusal: Callable[[int], Response],
        methods: frozenset[str] | None = None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.prefixes = prefixes
        self.refusal = refusal
        self.methods = methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._limited(scope):
            client = scope.get("client")
            host = client[0] if client else ""
            if host not in LOOPBACK and not self.limiter.allow(host, time.monotonic()):
                await self.refusal(self.limiter.retry_after(host))(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _limited(self, scope: Scope) -> bool:
        return (
            scope["type"] == "http"
            and scope["path"].startswith(self.prefixes)
            and (self.methods is None or scope["method"] in self.methods)
        )
