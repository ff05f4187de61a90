"""Client channels to yatt services: explicit size limits, retry on UNAVAILABLE, and security.

Security comes from the `security` argument, else the process default (yatt.config.security:
set_default_client_security or the YATT_TLS_* / YATT_TOKEN_FILE variables), so existing
callers of make_channel gain TLS and tokens without code changes.
"""

from __future__ import annotations

import json
import logging

import grpc

from yatt.config.security import ClientSecurity, default_client_security
from yatt.defaults import MAX_MESSAGE_BYTES
from yatt.rpc.server import message_size_options
from yatt.security.auth import bearer_interceptors
from yatt.security.credentials import channel_credentials, client_token, is_loopback

log = logging.getLogger(__name__)

# gRPC's own retry machinery (service config): a call that fails UNAVAILABLE before any
# response arrived is retried with backoff, on the same channel (which re-resolves).
RETRY_SERVICE_CONFIG = {
    "methodConfig": [
        {
            "name": [{}],
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.1s",
                "maxBackoff": "2s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}


def make_channel(
    target: str,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    security: ClientSecurity | None = None,
) -> grpc.aio.Channel:
    """An asyncio channel to host:port with yatt's limits, retry policy and credentials.

    security=None uses the process default (plaintext, no token if none is configured).
    """
    security = security if security is not None else default_client_security()
    options = message_size_options(max_message_bytes) + [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(RETRY_SERVICE_CONFIG)),
        # Large streams over loopback: avoid the default 4 MiB per-retry buffer limit.
        ("grpc.per_rpc_retry_buffer_size", max_message_bytes),
    ]
    if security is None:
        return grpc.aio.insecure_channel(target, options=options)
    token = client_token(security)
    if security.uses_tls:
        creds = channel_credentials(security)
        if token is not None:
            creds = grpc.composite_channel_credentials(
                creds, grpc.access_token_call_credentials(token)
            )
        if security.server_name:
            options.append(("grpc.ssl_target_name_override", security.server_name))
        return grpc.aio.secure_channel(target, creds, options=options)
    if token is None:
        return grpc.aio.insecure_channel(target, options=options)
    # grpc refuses call credentials on plaintext channels; send the header ourselves.
    if not is_loopback(target.rpartition(":")[0]):
        log.warning("sending a bearer token in plaintext to %s; enable TLS", target)
    return grpc.aio.insecure_channel(
        target, options=options, interceptors=bearer_interceptors(token)
    )
