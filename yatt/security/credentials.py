"""Turns security configs into gRPC credentials, reading certificates and tokens from disk.

Every unreadable file is a ConfigError naming the config key, raised before anything serves.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import grpc

from yatt.config.security import AuthConfig, ClientSecurity, TLSConfig
from yatt.errors import ConfigError

log = logging.getLogger(__name__)


def read_file(path: str, key: str) -> bytes:
    """The bytes of path; ConfigError naming key if it cannot be read."""
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror or exc}") from exc


def _warn_if_shared(path: str, key: str) -> None:
    # A secret others can read is not a secret; warn rather than refuse (some mounts,
    # e.g. k8s secrets with defaultMode 0644, are group/world readable by design).
    try:
        mode = os.stat(Path(path).expanduser()).st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("%s: %s is readable by group/others; chmod 600 it", key, path)


def read_secret(file: str | None, env: str | None, key: str) -> list[str]:
    """Non-empty lines of file, else the value of env var env; [] if neither is configured."""
    if file:
        _warn_if_shared(file, f"{key}_file")
        text = read_file(file, f"{key}_file").decode("utf-8", errors="strict")
        values = [line.strip() for line in text.splitlines() if line.strip()]
        if not values:
            raise ConfigError(f"{key}_file: {file} holds no token")
        return values
    if env:
        value = os.environ.get(env, "").strip()
        if not value:
            raise ConfigError(f"{key}_env: environment variable {env} is unset or empty")
        return [value]
    return []


def server_tokens(auth: AuthConfig, prefix: str = "server.auth") -> list[str]:
    """Tokens a server accepts ([] = no token check)."""
    return read_secret(auth.token_file, auth.token_env, f"{prefix}.token")


def client_token(security: ClientSecurity | None) -> str | None:
    """The token a client sends (first line of token_file, or token_env's value)."""
    if security is None:
        return None
    tokens = read_secret(security.token_file, security.token_env, "client.token")
    return tokens[0] if tokens else None


def server_credentials(tls: TLSConfig, prefix: str = "server.tls") -> grpc.ServerCredentials:
    """TLS server credentials; with require_client_cert, clients must present a cert from ca_file."""
    assert tls.cert_file and tls.key_file  # guaranteed by TLSConfig's validator
    _warn_if_shared(tls.key_file, f"{prefix}.key_file")
    pair = (
        read_file(tls.key_file, f"{prefix}.key_file"),
        read_file(tls.cert_file, f"{prefix}.cert_file"),
    )
    roots = read_file(tls.ca_file, f"{prefix}.ca_file") if tls.ca_file else None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=roots, require_client_auth=tls.require_client_cert
    )


def channel_credentials(
    security: ClientSecurity, prefix: str = "client"
) -> grpc.ChannelCredentials:
    """TLS channel credentials: ca_file (or system roots), plus the client cert for mTLS."""
    roots = read_file(security.ca_file, f"{prefix}.ca_file") if security.ca_file else None
    key = read_file(security.key_file, f"{prefix}.key_file") if security.key_file else None
    cert = read_file(security.cert_file, f"{prefix}.cert_file") if security.cert_file else None
    return grpc.ssl_channel_credentials(
        root_certificates=roots, private_key=key, certificate_chain=cert
    )


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.") or host.startswith("unix:")
