"""Config sections shared by every service: the gRPC server, etcd, and registration.

Secrets are never values here: only file paths or environment-variable names.
"""

from __future__ import annotations

from pydantic import Field

from yatt.config.loader import ConfigModel
from yatt.config.security import AuthConfig, TLSConfig
from yatt.defaults import DEFAULT_ETCD, DEFAULT_HOST, MAX_MESSAGE_BYTES


class MetricsConfig(ConfigModel):
    """Where a process serves its Prometheus metrics (/metrics over plain HTTP; yatt.metrics)."""

    port: int | None = Field(
        None, ge=0, le=65535, description="HTTP port for /metrics; None = off, 0 = a free port."
    )
    host: str = Field(DEFAULT_HOST, description="Address the metrics endpoint binds.")


class ServerConfig(ConfigModel):
    """How a service's gRPC server listens and bounds its work."""

    host: str = Field(DEFAULT_HOST, description="Address to bind; loopback by default.")
    port: int = Field(0, ge=0, le=65535, description="Port to bind; 0 picks a free port.")
    advertise_host: str | None = Field(
        None, description="Host other processes use to reach this server (default: host)."
    )
    max_message_bytes: int = Field(
        MAX_MESSAGE_BYTES, gt=0, description="Largest message accepted or sent, in bytes."
    )
    max_concurrency: int = Field(
        8, gt=0, description="RPCs executed at once; more wait in the queue."
    )
    max_queue: int = Field(
        64, ge=0, description="RPCs allowed to wait; beyond this RESOURCE_EXHAUSTED is answered."
    )
    grace_s: float = Field(
        30.0, ge=0, description="On SIGTERM, how long in-flight RPCs may finish before cancel."
    )
    max_call_s: float = Field(
        900.0,
        gt=0,
        description="Longest any one RPC may run, whatever deadline the client sent (or none): "
        "past it the call ends with DEADLINE_EXCEEDED and frees its admission slot.",
    )
    tls: TLSConfig = Field(
        default_factory=TLSConfig, description="TLS / mutual TLS for this server (off by default)."
    )
    auth: AuthConfig = Field(
        default_factory=AuthConfig,
        description="Bearer-token check on every RPC except health (off by default).",
    )
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig,
        description="Prometheus /metrics endpoint of this process (off unless port is set).",
    )


class EtcdConfig(ConfigModel):
    """Where the coordination store is, and how long a silent process keeps its keys."""

    endpoint: str = Field(
        DEFAULT_ETCD,
        description="host:port of an etcd v3 server (https://host:port forces TLS).",
    )
    lease_ttl_s: int = Field(
        5, ge=1, description="Lease TTL; a dead process's keys vanish after it."
    )
    ca_file: str | None = Field(
        None, description="PEM CA of etcd's server cert; enables TLS (env YATT_ETCD_CA)."
    )
    cert_file: str | None = Field(
        None, description="PEM client cert for etcd --client-cert-auth (env YATT_ETCD_CERT)."
    )
    key_file: str | None = Field(
        None, description="PEM private key of cert_file (env YATT_ETCD_KEY)."
    )
    user: str | None = Field(None, description="etcd user name for auth (env YATT_ETCD_USER).")
    password_file: str | None = Field(
        None, description="File holding the etcd user's password (env YATT_ETCD_PASSWORD_FILE)."
    )
    password_env: str | None = Field(
        None, description="Name of an environment variable holding the etcd password."
    )


class RegistrationConfig(ConfigModel):
    """Where a service registers itself in etcd; enabled only when job is set."""

    job: str | None = Field(None, description="Job to register under; None = no registration.")
    instance: str | None = Field(None, description="Instance name (default: host-pid).")
    slot: int | None = Field(None, description="Worker slot this process holds, if any.")
    load_interval_s: float = Field(1.0, gt=0, description="How often load is published.")
