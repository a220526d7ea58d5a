"""One settings class for the whole product: embedded defaults, production switches by environment."""

from __future__ import annotations

from dataclasses import fields
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.db import psycopg_url
from pipeline.limits import MediaLimits


class Settings(BaseSettings):
    """Read from the environment (``EVIDENCE_*``, plus ``DATABASE_URL``, ``RAY_ADDRESS`` and ``AWS_*``)."""

    model_config = SettingsConfigDict(env_prefix="EVIDENCE_", extra="ignore", populate_by_name=True)

    home: Path = Path("./var")
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL"))
    storage: str | None = None  # s3://bucket/prefix switches to S3; unset = local directory under home
    ray_address: str | None = Field(default=None, validation_alias=AliasChoices("RAY_ADDRESS"))
    aws_endpoint_url: str | None = Field(default=None, validation_alias=AliasChoices("AWS_ENDPOINT_URL"))
    aws_region: str = Field(
        default="us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )
    # Unset keys fall back to boto3's default credential chain (config files, instance/pod roles).
    aws_access_key_id: str | None = Field(default=None, validation_alias=AliasChoices("AWS_ACCESS_KEY_ID"))
    aws_secret_access_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY")
    )
    aws_session_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("AWS_SESSION_TOKEN")
    )
    s3_multipart_threshold_bytes: int = 64 * 1024**2
    s3_multipart_chunk_bytes: int = 64 * 1024**2

    # Ray
    ray_object_store_bytes: int = 1024**3
    task_cpus: int = 1  # CPUs per decode-bound task; ffmpeg -threads follows it
    task_max_retries: int = 2  # system failures only (a worker process died); media errors are final
    max_in_flight: int = 0  # jobs a runner keeps on Ray; 0: what the CPUs fit now (autoscaling: set the max)

    # Duplicate index: shards hosted in the job runner (embedded) or as Ray actors (a cluster)
    dedup_shards: int = 1
    dedup_actors: bool = False  # True: named shard actors on Ray (set it with RAY_ADDRESS on a cluster)
    dedup_shard_memory_bytes: int = 8 * 1024**3  # each shard actor's memory reservation
    dedup_shard_cpus: float = 0.5
    dedup_shard_resource: str = ""  # a Ray custom resource each shard actor takes one of (pins them to nodes)
    dedup_refresh_seconds: float = 60.0  # how often a shard actor looks for a newer snapshot

    # Jobs
    lease_seconds: float = 60.0
    heartbeat_seconds: float = 10.0
    max_attempts: int = 5
    poll_seconds: float = 1.0

    # Media (defaults live in MediaLimits; settings only let the environment override them)
    max_upload_bytes: int = MediaLimits.max_upload_bytes
    max_long_side: int = MediaLimits.max_long_side
    max_short_side: int = MediaLimits.max_short_side
    min_short_side: int = MediaLimits.min_short_side
    min_duration_s: float = MediaLimits.min_duration_s
    max_duration_s: float = MediaLimits.max_duration_s
    probe_timeout_s: float = MediaLimits.probe_timeout_s
    decode_timeout_factor: float = MediaLimits.decode_timeout_factor  # limit = 120 s + factor x duration
    ffmpeg_memory_bytes: int = MediaLimits.memory_bytes
    analysis_fps: float = 2.0  # the frame stream: fingerprints use every frame (copies of fast footage)
    faces_fps: float = 1.0  # presence and keyframes take every (analysis_fps / this)-th frame
    analysis_max_side: int = MediaLimits.analysis_max_side
    presence_policy: dict[str, float] = {}  # PresencePolicy overrides, JSON in EVIDENCE_PRESENCE_POLICY
    keyframe_params: dict[str, float] = {}  # KeyframeParams overrides, JSON in EVIDENCE_KEYFRAME_PARAMS

    # API
    jwt_secret: SecretStr | None = None  # unset: generated into EVIDENCE_HOME on first use
    jwt_issuer: str = "evidence"
    jwt_audience: str = "evidence-api"
    jwt_hours: float = 12.0  # lifetime of a token from `evidence users create|token` (--hours overrides)
    metrics_token: SecretStr | None = None  # set: /metrics wants `Authorization: Bearer <token>`
    upload_part_bytes: int = 16 * 1024**2  # resumable uploads (S3 needs >= 5 MiB except the last part)
    upload_url_expires_s: int = 6 * 3600
    idempotency_inflight_s: float = 3600.0  # an in-flight Idempotency-Key older than this is taken over

    # Uploads through the API: bodies are read on the event loop, never by a waiting thread
    upload_read_timeout_s: float = 60.0  # a body chunk must arrive within this, else 408
    uploads_max_concurrent: int = 64  # bodies being received at once, per API process (else 503)
    uploads_max_per_user: int = 4  # of those, per caller (else 429)
    upload_io_threads: int = 8  # the bounded pool that writes received bytes to storage
    upload_idle_hours: float = 24.0  # a resumable upload expires this long after its last part…
    upload_max_days: float = 7.0  # …or this long after it started, whichever comes first
    cleanup_interval_hours: float = 1.0  # `evidence serve` runs the cleanup this often (0: never)

    # Quotas for API callers (0: no limit); the CLI and administrators' reprocessing are not limited
    quota_open_uploads: int = 5  # open resumable uploads per caller
    quota_submissions_per_day: int = 20  # per teacher, in any 24 hours (open uploads count)
    quota_bytes_per_day: int = 32 * 1024**3  # per teacher, in any 24 hours (open uploads count)

    # Pages: browser sign-in. The cookie is Secure; browsers accept Secure cookies from http://127.0.0.1
    # and http://localhost too, so turn this off only to serve the pages over plain http to other hosts.
    session_cookie_secure: bool = True
    web_session_idle_s: float = 8 * 3600  # a session unused this long ends
    web_session_max_s: float = 7 * 86400  # and every session ends this long after sign-in
    sign_in_window_s: float = 15 * 60  # failures counted over this window...
    sign_in_max_failures_account: int = 5  # ...per sign-in name...
    sign_in_max_failures_address: int = 50  # ...and per client address (a school shares one)

    # Review: spot-check rates by level, over-sampling of flagged submissions, peer reviewers each
    spot_check_rates: dict[str, float] = {"county": 0.10, "city": 0.02, "province": 0.005}
    review_flagged_factor: float = 3.0  # invalid / duplicate / needs_review: drawn this many times as often
    peer_reviewers_per_submission: int = 3

    # Webhooks (Standard Webhooks); unset secret: generated into EVIDENCE_HOME on first use
    webhook_urls: Annotated[list[str], NoDecode] = []
    webhook_secret: SecretStr | None = None
    webhook_timeout_s: float = 10.0
    webhook_lease_s: float = 60.0  # a claimed delivery not finished within this is sent again
    webhook_backoff_base_s: float = 5.0  # retry n waits base * 2**(n-1), capped, with jitter
    webhook_backoff_max_s: float = 3600.0
    webhook_max_attempts: int = 16  # about 6.5 hours of retries with the defaults, then dead-lettered

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, v: Path) -> Path:
        """Absolute, so Ray workers with another working directory find the same place."""
        return v.expanduser().resolve()

    @field_validator("database_url")
    @classmethod
    def _psycopg3(cls, v: str | None) -> str | None:
        """A bare ``postgresql://`` (or ``postgres://``) URL is mapped to psycopg 3."""
        return None if v is None else psycopg_url(v)

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _comma_separated(cls, v: object) -> object:
        """``EVIDENCE_WEBHOOK_URLS`` is comma-separated."""
        if isinstance(v, str):
            return [u.strip() for u in v.split(",") if u.strip()]
        return v

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'evidence.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return (self.home / "blobs").resolve()

    @property
    def jobs_dir(self) -> Path:
        return (self.home / "jobs").resolve()

    @property
    def media_limits(self) -> MediaLimits:
        renamed = {"memory_bytes": "ffmpeg_memory_bytes", "threads": "task_cpus"}
        values = {f.name: getattr(self, renamed.get(f.name, f.name)) for f in fields(MediaLimits)}
        return MediaLimits(**values)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` instead)."""
    return Settings()
