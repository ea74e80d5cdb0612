"""The whole system on this machine: local infrastructure plus the four services,
each a real ``tevreden run <service>`` process. Used by ``tevreden demo`` and the
end-to-end tests.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tevreden.infra import ChildProcess, InfraError, LocalInfra, free_port

SERVICES = ("invitations", "responses", "scoring", "reporting")


@dataclass
class LocalStack:
    infra: LocalInfra
    workdir: Path
    report_dir: Path
    admin_api_key: str
    ports: dict[str, int]
    env: dict[str, str]
    processes: dict[str, ChildProcess] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start_service(self, service: str) -> None:
        env = self.env | {"TEVREDEN_HTTP_PORT": str(self.ports[service])}
        process = ChildProcess(
            [sys.executable, "-m", "tevreden", "run", service],
            self.workdir / f"{service}.log",
            env=env,
        )
        process.spawn()
        self.processes[service] = process

    def stop_service(self, service: str) -> None:
        process = self.processes.pop(service, None)
        if process is not None:
            process.stop()

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for service in self.processes:
            while True:
                if self.processes[service].exit_code() is not None:
                    raise InfraError(f"{service} exited; see {self.workdir / (service + '.log')}")
                try:
                    if httpx.get(f"{self.url(service)}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise InfraError(f"{service} not healthy after {timeout:.0f} s")
                time.sleep(0.2)

    def stop(self) -> None:
        for service in list(self.processes):
            self.stop_service(service)
        self.infra.stop()


@contextmanager
def local_stack(
    *,
    report_dir: Path | None = None,
    settings: dict[str, str] | None = None,
    workdir: Path | None = None,
    healthy_timeout: float = 60.0,
) -> Iterator[LocalStack]:
    """Start the infrastructure and the four services; stop everything on exit."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="tevreden-stack-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report_dir = report_dir or workdir / "reports"
    infra = LocalInfra.start()
    ports = {service: free_port() for service in SERVICES}
    admin_api_key = secrets.token_urlsafe(24)
    env = _service_env(infra, ports, report_dir, admin_api_key) | (settings or {})
    stack = LocalStack(infra, workdir, report_dir, admin_api_key, ports, env)
    try:
        for service in SERVICES:
            stack.start_service(service)
        stack.wait_healthy(healthy_timeout)
        yield stack
    finally:
        stack.stop()


def _service_env(
    infra: LocalInfra, ports: dict[str, int], report_dir: Path, admin_key: str
) -> dict[str, str]:
    import os

    return (
        dict(os.environ)
        | infra.env()
        | {
            "TEVREDEN_TOKEN_SECRET": secrets.token_urlsafe(32),
            "TEVREDEN_ADMIN_API_KEY": admin_key,
            "TEVREDEN_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['responses']}",
            "TEVREDEN_INVITATIONS_PUBLIC_URL": f"http://127.0.0.1:{ports['invitations']}",
            "TEVREDEN_REPORT_DIR": str(report_dir.resolve()),
            "TEVREDEN_LOG_FORMAT": "json",
            "TEVREDEN_TOPIC_PARTITIONS": "6",
        }
    )
