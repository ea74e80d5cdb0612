"""Settings every service reads, from environment variables prefixed ``TEVREDEN_``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ServiceName = Literal["invitations", "responses", "scoring", "reporting"]

# Default HTTP port per service, so four processes on one machine do not collide.
DEFAULT_HTTP_PORTS: dict[str, int] = {
    "invitations": 8001,
    "responses": 8002,
    "scoring": 8003,
    "reporting": 8004,
}


@dataclass(frozen=True)
class Bureau:
    """Who asks and how to reach them (the onderzoeksbureau): filled into every email, letter
    and questionnaire page."""

    name: str
    phone: str
    phone_hours: str
    email: str
    postal_address: str
    website: str
    privacy_url: str


class Settings(BaseSettings):
    """One flat set of settings; each service reads the ones it needs."""

    model_config = SettingsConfigDict(env_prefix="TEVREDEN_", extra="ignore")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/tevreden"
    database_pool_size: int = Field(default=8, ge=1)
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_partitions: int = Field(default=6, ge=1)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_sender: str = "Tevredenheidsonderzoek <onderzoek@tevreden.example>"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    email_concurrency: int = Field(default=8, ge=1)
    # A 4xx reply (try again later) is retried after this long.
    smtp_retry_after_seconds: float = Field(default=300.0, ge=0)
    # Where respondents reach the questionnaire (the responses service's public address).
    public_base_url: str = "http://127.0.0.1:8002"
    # Invitation tokens are HMAC(token_secret, invitation_id): never stored, only their hash.
    token_secret: SecretStr = SecretStr("change-me-in-production")
    admin_api_key: SecretStr = SecretStr("admin-change-me")
    # Responses service: the callcentre's key for the interview API; where the spoken
    # questions (WAV, low-threshold questionnaires) are written and served from (/audio/);
    # a token bucket per client address on /q/* (the proxy limits too; loopback is exempt).
    callcentre_api_key: SecretStr = SecretStr("callcentre-change-me")
    audio_dir: Path = Path("audio")
    questionnaire_rate_per_second: float = Field(default=5.0, gt=0)
    questionnaire_rate_burst: int = Field(default=60, ge=1)
    # The /code page (a letter's personal code typed in): a much smaller bucket per address.
    letter_code_rate_per_second: float = Field(default=0.2, gt=0)
    letter_code_rate_burst: int = Field(default=10, ge=1)
    http_host: str = "127.0.0.1"
    http_port: int | None = None
    log_format: Literal["json", "console"] = "json"
    log_level: str = "INFO"
    report_dir: Path = Path("reports")
    # Reports: scores arriving after fieldwork closed regenerate a report this long after the
    # last one (debounce); the provider may respond to a draft for this many days.
    report_debounce_seconds: float = Field(default=60.0, ge=0)
    report_review_days: float = Field(default=21.0, ge=0)
    # Reminder timing (herinnering); 7 days by default, seconds in the demo.
    reminder_after_seconds: float = Field(default=7 * 24 * 3600, ge=0)
    max_reminders: int = Field(default=1, ge=0)
    # Waves (invitations): a plan day lasts this long (the demo and tests shorten it); SMTP
    # sending rate over all connections (0: unlimited); 4xx retries with doubling backoff
    # before an address counts as undeliverable.
    wave_day_seconds: float = Field(default=24 * 3600, gt=0)
    email_rate_per_second: float = Field(default=50.0, ge=0)
    smtp_max_retries: int = Field(default=5, ge=0)
    email_batch_size: int = Field(default=500, ge=1)
    # Email rounds in flight per replica: one claims and renders while another sends.
    email_rounds_in_flight: int = Field(default=2, ge=1)
    # A claimed email round's rows are leased this long; longer than any round can take.
    email_lease_seconds: float = Field(default=900.0, gt=0)
    # Where opt-out links point (the invitations service's public address).
    invitations_public_url: str = "http://127.0.0.1:8001"
    # Letters: PDF and manifest per wave are written here, for the mail house.
    letter_dir: Path = Path("letters")
    # The callcentre: price per purchased interview (cost lines), and whether calling hours
    # apply (off in the demo and tests, which run at any hour).
    phone_interview_price_cents: int = Field(default=2500, ge=0)
    calling_hours_apply: bool = True
    call_lease_seconds: float = Field(default=900.0, gt=0)
    scheduler_poll_seconds: float = Field(default=1.0, gt=0)
    consumer_max_attempts: int = Field(default=3, ge=1)
    consumer_retry_backoff_seconds: float = Field(default=0.2, ge=0)
    consumer_batch_size: int = Field(default=500, ge=1)
    # How long the broker may hold a fetch that finds nothing (Kafka's fetch.max.wait.ms).
    # Short for low latency on a memory broker; on a broker that keeps its log in object
    # storage (Tansu on S3) it must exceed the time the broker takes to list a partition's
    # objects: Tansu 0.6 answers a fetch whose listing outlasts it with no records at all.
    consumer_fetch_max_wait_ms: int = Field(default=10, ge=0)
    outbox_batch_size: int = Field(default=500, ge=1)
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    # How often each service reads its outbox backlog and its consumer lag for /metrics.
    metrics_poll_seconds: float = Field(default=5.0, gt=0)
    # Where each service answers (the scoring ops page reads their /metrics), as JSON:
    # {"invitations": "http://invitations:8001", ...}; a service not named: 127.0.0.1:<its port>.
    service_urls: dict[str, str] = Field(default_factory=dict)
    # The research bureau (onderzoeksbureau) that asks: named with its contact details in every
    # email, letter and questionnaire page. Respondents get this many days to answer (the
    # reply-by date in emails and letters).
    bureau_name: str = "Onderzoeksbureau Tevreden"
    bureau_phone: str = "030 123 45 67"
    bureau_phone_hours: str = "op werkdagen van 9.00 tot 17.00 uur"
    bureau_email: str = "onderzoek@tevreden.example"
    bureau_postal_address: str = "Postbus 1234, 3500 AB Utrecht"
    bureau_website: str = "https://tevreden.example"
    bureau_privacy_url: str = "https://tevreden.example/privacy"
    reply_within_days: int = Field(default=14, ge=1)

    @property
    def bureau(self) -> Bureau:
        return Bureau(
            name=self.bureau_name,
            phone=self.bureau_phone,
            phone_hours=self.bureau_phone_hours,
            email=self.bureau_email,
            postal_address=self.bureau_postal_address,
            website=self.bureau_website,
            privacy_url=self.bureau_privacy_url,
        )

    def port_for(self, service: str) -> int:
        """The HTTP port of ``service``: the explicit setting, else its default."""
        return self.http_port if self.http_port is not None else DEFAULT_HTTP_PORTS[service]

    def service_url(self, service: str) -> str:
        """Where ``service`` answers HTTP: ``service_urls``, else its default port on this host."""
        return self.service_urls.get(service, f"http://127.0.0.1:{DEFAULT_HTTP_PORTS[service]}")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
