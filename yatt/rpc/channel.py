"""Client channels to yatt services: explicit size limits and automatic retry on UNAVAILABLE."""

from __future__ import annotations

import json

import grpc

from yatt.defaults import MAX_MESSAGE_BYTES
from yatt.rpc.server import message_size_options

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


def make_channel(target: str, max_message_bytes: int = MAX_MESSAGE_BYTES) -> grpc.aio.Channel:
    """An insecure asyncio channel to host:port with yatt's limits and retry policy."""
    options = message_size_options(max_message_bytes) + [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(RETRY_SERVICE_CONFIG)),
        # Large streams over loopback: avoid the default 4 MiB per-retry buffer limit.
        ("grpc.per_rpc_retry_buffer_size", max_message_bytes),
    ]
    return grpc.aio.insecure_channel(target, options=options)
