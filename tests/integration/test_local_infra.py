"""The local infrastructure really starts, works, and leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.polling import DEADLINE
from tevreden.infra import (
    DATABASE_URL_ENV,
    LocalInfra,
    LocalPostgres,
    LocalS3,
    SmtpSink,
    TansuBroker,
    pid_alive,
)

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- helpers


async def _kafka_round_trip(bootstrap: str, topic: str) -> bytes:
    """Create ``topic``, produce one record and read it back; returns its value."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    # Tansu has no idempotent producer.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hallo", key=b"k")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        record = await asyncio.wait_for(consumer.getone(), timeout=DEADLINE)
    finally:
        await consumer.stop()
    value: bytes | None = record.value
    assert value is not None
    return value


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line contains ``text`` (no psutil: read /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and pid_alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def _wait_until_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    """The pids still alive after ``timeout`` (postgres children exit a moment later)."""
    deadline = time.monotonic() + timeout
    while (alive := [p for p in pids if pid_alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


async def _table_round_trip(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE probe (id int PRIMARY KEY, note text)")
        await conn.execute("INSERT INTO probe VALUES (1, 'tevreden')")
        count: int = await conn.fetchval("SELECT count(*) FROM probe")
        return count
    finally:
        await conn.close()


async def _database_exists(admin_url: str, name: str) -> bool:
    conn = await asyncpg.connect(admin_url)
    try:
        found = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        return found is not None
    finally:
        await conn.close()


def _mail(subject: str = "Hoe tevreden bent u?") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "onderzoek@tevreden.example"
    msg["To"] = "jan@example.nl"
    msg["Subject"] = subject
    msg.set_content("Beste Jan, graag uw mening. Groeten, het onderzoeksbureau")
    return msg


async def _send(sink: SmtpSink, msg: EmailMessage, timeout: float = 5.0) -> None:
    await aiosmtplib.send(msg, hostname=sink.host, port=sink.port, timeout=timeout)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    smtp = SmtpSink.start()
    yield smtp
    smtp.stop()


# --------------------------------------------------------------------------- broker


async def test_broker_round_trip_and_stop_leaves_no_process() -> None:
    broker = TansuBroker.start()
    pid = broker.pid
    try:
        assert await _kafka_round_trip(broker.bootstrap_servers, "probe") == b"hallo"
    finally:
        broker.stop()
    assert pid is not None
    assert not pid_alive(pid)
    assert not broker.log_path.parent.exists()
    broker.stop()  # idempotent


async def test_broker_restart_keeps_port_and_serves_again() -> None:
    broker = TansuBroker.start()
    try:
        port, old_pid = broker.port, broker.pid
        await _kafka_round_trip(broker.bootstrap_servers, "before")
        broker.restart()
        assert broker.port == port
        assert broker.pid != old_pid
        assert old_pid is not None and not pid_alive(old_pid)
        # Memory storage: the old topic is gone, a new one works.
        assert await _kafka_round_trip(broker.bootstrap_servers, "after") == b"hallo"
    finally:
        broker.stop()


async def _commit_and_read_back(bootstrap: str, topic: str, group: str, commit: bool) -> int | None:
    """Join ``group`` on partition 0 of ``topic``; commit offset 1 if asked; the committed offset."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        if commit:
            await consumer.commit({partition: 1})
        committed: int | None = await consumer.committed(partition)
        return committed
    finally:
        await consumer.stop()


async def test_durable_broker_killed_comes_back_with_its_messages_and_committed_offsets() -> None:
    broker = TansuBroker.start(durable=True)
    try:
        assert broker.storage_engine == "s3://tansu/"
        await _kafka_round_trip(broker.bootstrap_servers, "kept")
        assert await _commit_and_read_back(broker.bootstrap_servers, "kept", "g", commit=True) == 1
        port, old_pid = broker.port, broker.pid
        broker.kill()
        assert old_pid is not None and not pid_alive(old_pid)
        broker.relaunch()
        assert (broker.port, broker.pid is not None, broker.pid != old_pid) == (port, True, True)
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id=None)
        await consumer.start()
        try:
            consumer.assign([TopicPartition("kept", 0)])
            consumer.seek(TopicPartition("kept", 0), 0)
            record = await asyncio.wait_for(consumer.getone(), timeout=DEADLINE)
        finally:
            await consumer.stop()
        assert record.value == b"hallo"
        assert await _commit_and_read_back(broker.bootstrap_servers, "kept", "g", commit=False) == 1
    finally:
        broker.stop()
    assert broker.storage is not None and broker.storage.pid is None


def test_local_s3_refuses_a_conditional_put_whose_precondition_fails() -> None:
    import boto3  # a dependency of moto (dev extra), like LocalS3 itself
    from botocore.exceptions import ClientError

    s3 = LocalS3.start()
    try:
        client = boto3.client(
            "s3",
            endpoint_url=s3.endpoint_url,
            aws_access_key_id=s3.ACCESS_KEY_ID,
            aws_secret_access_key=s3.SECRET_ACCESS_KEY,
            region_name=s3.REGION,
        )
        created = client.put_object(Bucket=s3.bucket, Key="meta.json", Body=b"1", IfNoneMatch="*")
        refused = []
        for condition in ({"IfNoneMatch": "*"}, {"IfMatch": '"not-its-etag"'}):
            with pytest.raises(ClientError) as caught:
                client.put_object(Bucket=s3.bucket, Key="meta.json", Body=b"2", **condition)
            refused.append(caught.value.response["Error"]["Code"])
        assert refused == ["PreconditionFailed", "PreconditionFailed"]
        client.put_object(Bucket=s3.bucket, Key="meta.json", Body=b"3", IfMatch=created["ETag"])
        assert client.get_object(Bucket=s3.bucket, Key="meta.json")["Body"].read() == b"3"
    finally:
        s3.stop()


def test_children_die_when_parent_is_killed() -> None:
    """SIGKILL of the owner (no atexit, no stop()) still takes tansu and postgres down."""
    script = textwrap.dedent(
        """
        import time
        from tevreden.infra import LocalPostgres, TansuBroker
        broker = TansuBroker.start()
        pg = LocalPostgres.start(embedded=True)
        print(broker.pid, pg.server.pid, broker.log_path.parent, pg.server.data_dir.parent,
              flush=True)
        time.sleep(120)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT
    ) as owner:
        assert owner.stdout is not None
        broker_pid, pg_pid, *dirs = owner.stdout.readline().split()
        try:
            assert pid_alive(int(broker_pid)) and pid_alive(int(pg_pid))
            owner.send_signal(signal.SIGKILL)
            owner.wait(timeout=10)
            assert _wait_until_gone([int(broker_pid), int(pg_pid)]) == []
            assert _wait_until_gone(_pids_mentioning(dirs[1])) == []  # postgres backends too
        finally:
            owner.kill()
            for leftover in dirs:  # a killed owner cannot clean its temp dirs
                shutil.rmtree(leftover, ignore_errors=True)


# --------------------------------------------------------------------------- postgres


async def test_fresh_database_on_external_server_is_dropped_on_stop() -> None:
    if not os.environ.get(DATABASE_URL_ENV):
        pytest.skip(f"{DATABASE_URL_ENV} not set")
    pg = LocalPostgres.start(embedded=False)
    try:
        assert not pg.embedded
        assert pg.url.endswith(f"/{pg.database}")
        assert await _table_round_trip(pg.url) == 1
        assert await _database_exists(pg.admin_url, pg.database)
        # A connection left open must not block the drop (WITH (FORCE)).
        leaked = await asyncpg.connect(pg.url)
    finally:
        pg.stop()
    leaked.terminate()
    assert not await _database_exists(pg.admin_url, pg.database)
    pg.stop()  # idempotent


async def test_embedded_postgres_without_env_leaves_nothing_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    pg = LocalPostgres.start()
    assert pg.server is not None
    data_dir = pg.server.data_dir
    try:
        assert pg.embedded
        assert "127.0.0.1" in pg.url
        assert await _table_round_trip(pg.url) == 1
        server_pids = _pids_mentioning(str(data_dir))
        assert pg.server.pid in server_pids
    finally:
        pg.stop()
    assert _wait_until_gone(server_pids) == []
    assert _pids_mentioning(str(data_dir)) == []
    assert not data_dir.exists()


# --------------------------------------------------------------------------- SMTP


async def test_smtp_sink_stores_messages(sink: SmtpSink) -> None:
    await _send(sink, _mail())
    [received] = await sink.async_wait_for(1, timeout=DEADLINE)
    assert received.mail_from == "onderzoek@tevreden.example"
    assert received.rcpt_tos == ("jan@example.nl",)
    assert received.message["Subject"] == "Hoe tevreden bent u?"
    assert "graag uw mening" in received.message.get_content()
    assert b"Subject: Hoe tevreden bent u?" in received.raw
    assert sink.wait_for(1, timeout=1) == [received]
    sink.clear()
    assert sink.messages == []
    with pytest.raises(TimeoutError):
        sink.wait_for(1, timeout=0.2)


@pytest.mark.parametrize(
    ("reply", "code"),
    [("451 4.7.1 Try again later", 451), ("550 5.1.1 User unknown", 550)],
)
async def test_smtp_fault_is_returned_and_not_stored(sink: SmtpSink, reply: str, code: int) -> None:
    sink.set_faults([reply])
    with pytest.raises(aiosmtplib.SMTPResponseException) as raised:
        await _send(sink, _mail())
    assert raised.value.code == code
    assert sink.messages == []
    # The fault was used up: the retry is accepted.
    await _send(sink, _mail())
    assert len(await sink.async_wait_for(1, timeout=DEADLINE)) == 1
    assert sink.attempts == 2


def test_smtp_fault_must_be_an_error_reply() -> None:
    sink = SmtpSink(port=0)  # never started: validation needs no server
    with pytest.raises(ValueError, match="4xx/5xx"):
        sink.set_faults(["250 OK"])


async def test_smtp_silent_mode_times_out_the_client(sink: SmtpSink) -> None:
    sink.set_silent(True)
    started = time.monotonic()
    with pytest.raises(aiosmtplib.SMTPTimeoutError):
        await _send(sink, _mail(), timeout=2)
    assert 1.5 < time.monotonic() - started < DEADLINE
    assert sink.messages == []
    sink.set_silent(False)
    await _send(sink, _mail())
    assert len(await sink.async_wait_for(1, timeout=DEADLINE)) == 1


async def test_smtp_stop_releases_a_silent_server() -> None:
    sink = SmtpSink.start()
    sink.set_silent(True)
    with pytest.raises(aiosmtplib.SMTPTimeoutError):
        await _send(sink, _mail(), timeout=1)
    started = time.monotonic()
    sink.stop()
    assert time.monotonic() - started < 5


# --------------------------------------------------------------------------- together


async def test_local_infra_env_and_stop() -> None:
    with LocalInfra.start() as infra:
        env = infra.env()
        assert env["TEVREDEN_KAFKA_BOOTSTRAP_SERVERS"] == infra.broker.bootstrap_servers
        assert env[DATABASE_URL_ENV] == infra.postgres.url
        assert env["TEVREDEN_SMTP_HOST"] == "127.0.0.1"
        assert int(env["TEVREDEN_SMTP_PORT"]) == infra.smtp.port
        assert await _kafka_round_trip(env["TEVREDEN_KAFKA_BOOTSTRAP_SERVERS"], "t") == b"hallo"
        assert await _table_round_trip(env[DATABASE_URL_ENV]) == 1
        await _send(infra.smtp, _mail())
        assert len(await infra.smtp.async_wait_for(1, timeout=DEADLINE)) == 1
        broker_pid = infra.broker.pid
    assert broker_pid is not None and not pid_alive(broker_pid)
    if infra.postgres.server is not None:  # embedded: the whole server is gone
        assert not infra.postgres.server.data_dir.exists()
    else:
        assert not await _database_exists(infra.postgres.admin_url, infra.postgres.database)


def test_local_infra_stop_continues_past_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    infra = LocalInfra.start()
    broker_pid = infra.broker.pid

    real_stop = infra.smtp.stop

    def broken_stop() -> None:
        real_stop()  # really stop it, then complain
        raise RuntimeError("smtp stop failed")

    monkeypatch.setattr(infra.smtp, "stop", broken_stop)
    with pytest.raises(RuntimeError, match="smtp stop failed"):
        infra.stop()
    assert broker_pid is not None and not pid_alive(broker_pid)
