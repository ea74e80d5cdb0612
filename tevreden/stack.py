"""The whole system on this machine: local infrastructure plus the four services,
each a real ``tevreden run <service>`` process. Used by ``tevreden demo`` and the
end-to-end tests.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.settings import DEFAULT_HTTP_PORTS, Settings, get_settings
from tevreden.infra import ChildProcess, InfraError, LocalInfra, free_port, pid_alive

SERVICES = ("invitations", "responses", "scoring", "reporting", "portal")


def stack_file() -> Path:
    """Where a running local stack says where its services listen: ``TEVREDEN_STACK_FILE``,
    else ``$XDG_STATE_HOME/tevreden/local-stack.json`` (``~/.local/state/…``)."""
    if explicit := os.environ.get("TEVREDEN_STACK_FILE"):
        return Path(explicit)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "tevreden" / "local-stack.json"


@dataclass(frozen=True)
class RunningStack:
    """What ``tevreden status`` and ``extra-wave`` need of a running local stack."""

    urls: dict[str, str]
    admin_api_key: str
    pid: int

    def to_json(self) -> str:
        return json.dumps({"urls": self.urls, "admin_api_key": self.admin_api_key, "pid": self.pid})

    @classmethod
    def from_json(cls, text: str) -> RunningStack | None:
        """The stack the text describes; None when it is not a whole description."""
        try:
            data = json.loads(text)
            urls = {s: str(data["urls"][s]) for s in SERVICES}
            return cls(urls, str(data["admin_api_key"]), int(data["pid"]))
        except (ValueError, TypeError, KeyError):
            return None


def running_stack(path: Path | None = None) -> RunningStack | None:
    """The local stack that is running now, as its state file says; None when there is none
    (no file, an unreadable one, or one left behind by a stack that has stopped)."""
    try:
        text = (path or stack_file()).read_text()
    except OSError:
        return None
    stack = RunningStack.from_json(text)
    return stack if stack is not None and pid_alive(stack.pid) else None


def service_urls(ports: Mapping[str, int], host: str = "127.0.0.1") -> dict[str, str]:
    return {service: f"http://{host}:{port}" for service, port in ports.items()}


@dataclass(frozen=True)
class ServiceAddresses:
    """Where the four services listen and the admin key to use, and the local stack they came
    from (None: from the options or the settings)."""

    urls: dict[str, str]
    admin_api_key: str
    local: RunningStack | None = None


def find_services(
    settings: Settings,
    host: str | None = None,
    named: Mapping[str, str] | None = None,
    api_key: str | None = None,
    local: RunningStack | None = None,
) -> ServiceAddresses:
    """The options given win (``host``: all four on their default ports there; ``named``: one
    service elsewhere; ``api_key``); then a running local stack (``local``, when no host is
    given); then the settings (``service_urls``, the admin key)."""
    named = dict(named or {})
    if host is None and local is not None:
        return ServiceAddresses(local.urls | named, api_key or local.admin_api_key, local)
    if host is None:
        urls = {s: settings.service_url(s) for s in SERVICES}
    else:
        urls = service_urls(DEFAULT_HTTP_PORTS, host)
    return ServiceAddresses(urls | named, api_key or settings.admin_api_key.get_secret_value())


def locate_services(
    host: str | None = None, named: Mapping[str, str] | None = None, api_key: str | None = None
) -> ServiceAddresses:
    """:func:`find_services` with this process's settings and the local stack running now."""
    return find_services(get_settings(), host, named, api_key, running_stack() if host is None else None)


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

    def wait_healthy(self, timeout: float = 180.0) -> None:  # four services starting on a busy machine
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

    def announce(self, path: Path) -> None:
        """Write where the services listen, and the admin key, for the commands of this user."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with suppress(FileNotFoundError):
            path.unlink()
        running = RunningStack(service_urls(self.ports), self.admin_api_key, os.getpid())
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # the key is in it
        with os.fdopen(descriptor, "w") as f:
            f.write(running.to_json())


@contextmanager
def local_stack(
    *,
    report_dir: Path | None = None,
    settings: dict[str, str] | None = None,
    workdir: Path | None = None,
    healthy_within: float = 60.0,
    usual_ports: bool = False,
    announce_to: Path | None = None,
) -> Iterator[LocalStack]:
    """Start the infrastructure, the four services and the portal; stop everything on exit. With
    ``announce_to``, write where the services listen there while they run (see
    :func:`running_stack`)."""
    workdir = (workdir or Path(tempfile.mkdtemp(prefix="tevreden-stack-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    report_dir = report_dir or workdir / "reports"
    # The SMTP sink writes each message here too; the portal's mailbox page reads them.
    mailbox_dir = workdir / "mailbox"
    infra = LocalInfra.start(mailbox_dir=mailbox_dir)
    ports = {service: _port(service, usual_ports) for service in SERVICES}
    admin_api_key = secrets.token_urlsafe(24)
    env = _service_env(infra, ports, report_dir, admin_api_key) | _portal_env(ports, mailbox_dir)
    env |= settings or {}
    stack = LocalStack(infra, workdir, report_dir, admin_api_key, ports, env)
    try:
        for service in SERVICES:
            stack.start_service(service)
        stack.wait_healthy(healthy_within)
        if announce_to is not None:
            stack.announce(announce_to)
        yield stack
    finally:
        if announce_to is not None:
            with suppress(FileNotFoundError):
                announce_to.unlink()
        stack.stop()


def _port(service: str, usual: bool) -> int:
    """The service's usual port (8001–8005) when asked for and free, else any free port."""
    if usual:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", DEFAULT_HTTP_PORTS[service]))
                return DEFAULT_HTTP_PORTS[service]
            except OSError:
                pass
    return free_port()


def _portal_env(ports: dict[str, int], mailbox_dir: Path) -> dict[str, str]:
    """The portal's settings, and where every service answers (the portal calls them)."""
    return {
        "TEVREDEN_PORTAL_ASSERTION_SECRET": secrets.token_urlsafe(32),
        "TEVREDEN_PORTAL_SESSION_SECRET": secrets.token_urlsafe(32),
        "TEVREDEN_PORTAL_PUBLIC_URL": f"http://127.0.0.1:{ports['portal']}",
        "TEVREDEN_PORTAL_MAILBOX_DIR": str(mailbox_dir),
        "TEVREDEN_SERVICE_URLS": json.dumps({s: f"http://127.0.0.1:{p}" for s, p in ports.items()}),
    }


def _service_env(
    infra: LocalInfra, ports: dict[str, int], report_dir: Path, admin_key: str
) -> dict[str, str]:
    return (
        dict(os.environ)
        | infra.env()
        | {
            # The local stack: short keys for the demo are fine (see docs/security.md).
            "TEVREDEN_ENVIRONMENT": "local",
            "TEVREDEN_TOKEN_SECRET": secrets.token_urlsafe(32),
            "TEVREDEN_ADMIN_API_KEY": admin_key,
            "TEVREDEN_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['responses']}",
            "TEVREDEN_INVITATIONS_PUBLIC_URL": f"http://127.0.0.1:{ports['invitations']}",
            "TEVREDEN_REPORT_DIR": str(report_dir.resolve()),
            "TEVREDEN_LOG_FORMAT": "json",
            "TEVREDEN_TOPIC_PARTITIONS": "6",
            # The scoring ops page reads the others' /metrics: tell it where they listen.
            "TEVREDEN_SERVICE_URLS": json.dumps(service_urls(ports)),
        }
    )
