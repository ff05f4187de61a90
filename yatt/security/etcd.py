"""aetcd.Client with TLS / mutual TLS and a self-renewing user/password token.

aetcd itself dials plaintext only and authenticates once per connection, so a token lost
when etcd restarts would lock a days-long process out; here every call carries the current
token and an UNAUTHENTICATED answer makes the next call authenticate again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aetcd
import grpc
from aetcd import rpc, watcher
from aetcd.client import _handle_errors

log = logging.getLogger(__name__)

AUTHENTICATE = "/etcdserverpb.Auth/Authenticate"
# etcd's answers that mean "get a new token": unknown/expired token, or auth store changed.
STALE_DETAILS = ("invalid auth token", "revision of auth store is old", "user name is empty")


def _stale(code: grpc.StatusCode | None, details: str | None) -> bool:
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return True
    return code == grpc.StatusCode.INVALID_ARGUMENT and any(
        s in (details or "") for s in STALE_DETAILS
    )


class TokenSource:
    """Holds etcd's auth token for one channel; authenticates lazily, once per invalidation."""

    def __init__(self, user: str, password: str, timeout: float | None) -> None:
        self._user = user
        self._password = password
        self._timeout = timeout
        self._token: str | None = None
        self._lock = asyncio.Lock()
        self.stub: Any = None  # AuthStub on the channel; bound by SecureEtcdClient.connect

    async def get(self) -> str:
        async with self._lock:
            if self._token is None:
                request = rpc.AuthenticateRequest(name=self._user, password=self._password)
                reply = await self.stub.Authenticate(request, timeout=self._timeout)
                self._token = reply.token
            return self._token

    def invalidate(self, token: str) -> None:
        if self._token == token:
            self._token = None


def _with_token(details: grpc.aio.ClientCallDetails, token: str) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*[kv for kv in (details.metadata or ()) if kv[0] != "token"])
    metadata.add("token", token)
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class _TokenInterceptor:
    def __init__(self, source: TokenSource) -> None:
        self._source = source

    def _watch(self, call: Any, token: str) -> Any:
        """Streams cannot be replayed: a stale-token failure only invalidates for next time."""

        async def check() -> None:
            try:
                code, details = await call.code(), await call.details()
            except (grpc.aio.AioRpcError, asyncio.CancelledError):
                return
            if _stale(code, details):
                self._source.invalidate(token)

        call.add_done_callback(lambda _: asyncio.ensure_future(check()))
        return call


class _UnaryUnary(_TokenInterceptor, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        if details.method in (AUTHENTICATE, AUTHENTICATE.encode()):
            return await continuation(details, request)
        token = await self._source.get()
        call = await continuation(_with_token(details, token), request)
        if _stale(await call.code(), await call.details()):
            # A unary call can be replayed: re-authenticate once and retry.
            self._source.invalidate(token)
            call = await continuation(_with_token(details, await self._source.get()), request)
        return call


class _UnaryStream(_TokenInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        token = await self._source.get()
        return self._watch(await continuation(_with_token(details, token), request), token)


class _StreamUnary(_TokenInterceptor, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, details, request_iterator):  # type: ignore[no-untyped-def]
        token = await self._source.get()
        return self._watch(await continuation(_with_token(details, token), request_iterator), token)


class _StreamStream(_TokenInterceptor, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, details, request_iterator):  # type: ignore[no-untyped-def]
        token = await self._source.get()
        return self._watch(await continuation(_with_token(details, token), request_iterator), token)


def token_interceptors(source: TokenSource) -> list[grpc.aio.ClientInterceptor]:
    """Every call carries source's current token (one object per kind: grpc.aio files an
    interceptor under the first kind it matches)."""
    return [kind(source) for kind in (_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream)]


class SecureEtcdClient(aetcd.Client):
    """aetcd.Client over TLS (credentials given) and/or with user/password auth."""

    def __init__(
        self,
        host: str,
        port: int,
        credentials: grpc.ChannelCredentials | None = None,
        user: str | None = None,
        password: str | None = None,
        timeout: int | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        # No username/password to the base class: it would authenticate only once.
        super().__init__(host=host, port=port, timeout=timeout, options=options)
        self._credentials = credentials
        self._tokens = TokenSource(user, password or "", timeout) if user else None

    @_handle_errors
    async def connect(self) -> None:
        """Opens the channel (same shape as aetcd.Client.connect, with credentials)."""
        if self._connected.is_set():
            return
        if self._is_connecting:  # type: ignore[has-type]  # set in aetcd.Client.__init__
            await asyncio.wait_for(self._connected.wait(), self._connect_wait_timeout)
            return
        try:
            self._is_connecting = True
            target = f"{self._host}:{self._port}"
            options = list(self._options.items())
            interceptors = token_interceptors(self._tokens) if self._tokens else None
            if self._credentials is not None:
                self.channel = grpc.aio.secure_channel(
                    target, self._credentials, options=options, interceptors=interceptors
                )
            else:
                self.channel = grpc.aio.insecure_channel(
                    target, options=options, interceptors=interceptors
                )
            if self._tokens is not None:
                self._tokens.stub = rpc.AuthStub(self.channel)
                await self._tokens.get()  # wrong credentials fail here, at connect
            self.kvstub = rpc.KVStub(self.channel)
            self.clusterstub = rpc.ClusterStub(self.channel)
            self.leasestub = rpc.LeaseStub(self.channel)
            self.maintenancestub = rpc.MaintenanceStub(self.channel)
            self._watcher = watcher.Watcher(
                rpc.WatchStub(self.channel), timeout=self._timeout, metadata=None
            )
            self._connected.set()
        except BaseException:
            if self.channel is not None:
                await self.channel.close()
            self._init_channel_attrs()
            raise
        finally:
            self._is_connecting = False
