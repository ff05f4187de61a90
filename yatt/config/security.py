"""Config for TLS, mutual TLS and bearer tokens on yatt's gRPC servers and clients.

Configs hold only paths and env-var names: certificates, keys and tokens are read from files
or the environment at start-up, so no secret is ever written into code or a committed config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import Field, model_validator

from yatt.config.loader import ConfigModel

# The one mechanism that gives every make_channel caller client credentials without code
# changes: these variables, read when a channel is made (see docs/security.md).
ENV_TLS_CA = "YATT_TLS_CA"
ENV_TLS_CERT = "YATT_TLS_CERT"
ENV_TLS_KEY = "YATT_TLS_KEY"
ENV_TLS_SERVER_NAME = "YATT_TLS_SERVER_NAME"
ENV_TOKEN_FILE = "YATT_TOKEN_FILE"


class TLSConfig(ConfigModel):
    """Server-side TLS; with require_client_cert, mutual TLS (clients present a cert)."""

    enabled: bool = Field(False, description="Serve TLS instead of plaintext.")
    cert_file: str | None = Field(None, description="PEM server certificate (chain) file.")
    key_file: str | None = Field(None, description="PEM private key file of cert_file.")
    ca_file: str | None = Field(
        None, description="PEM CA bundle that client certificates must chain to (mutual TLS)."
    )
    require_client_cert: bool = Field(
        False, description="Mutual TLS: refuse clients without a certificate signed by ca_file."
    )

    @model_validator(mode="after")
    def _complete(self) -> TLSConfig:
        if self.enabled and not (self.cert_file and self.key_file):
            raise ValueError("tls.enabled needs tls.cert_file and tls.key_file")
        if self.require_client_cert and not (self.enabled and self.ca_file):
            raise ValueError("tls.require_client_cert needs tls.enabled and tls.ca_file")
        return self


class AuthConfig(ConfigModel):
    """Bearer-token check: callers send `authorization: Bearer <token>` on every RPC."""

    token_file: str | None = Field(
        None,
        description="File of accepted tokens, one per line (several allow rotation).",
    )
    token_env: str | None = Field(
        None, description="Name of an environment variable holding the accepted token."
    )

    @property
    def enabled(self) -> bool:
        return bool(self.token_file or self.token_env)


class ClientSecurity(ConfigModel):
    """How a client reaches a secured server: TLS roots, a client cert (mTLS), a token."""

    tls: bool = Field(False, description="Use TLS even without ca_file (system trust roots).")
    ca_file: str | None = Field(None, description="PEM CA bundle that server certs chain to.")
    cert_file: str | None = Field(None, description="PEM client certificate for mutual TLS.")
    key_file: str | None = Field(None, description="PEM private key of cert_file.")
    server_name: str | None = Field(
        None, description="Name to verify the server cert against, if not the target host."
    )
    token_file: str | None = Field(None, description="File whose first line is the token.")
    token_env: str | None = Field(
        None, description="Name of an environment variable holding the token."
    )

    @model_validator(mode="after")
    def _pair(self) -> ClientSecurity:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("client cert_file and key_file must be given together")
        return self

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls or self.ca_file or self.cert_file)

    @property
    def has_token(self) -> bool:
        return bool(self.token_file or self.token_env)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClientSecurity | None:
        """From YATT_TLS_CA / YATT_TLS_CERT / YATT_TLS_KEY / YATT_TLS_SERVER_NAME /
        YATT_TOKEN_FILE; None when none is set (plaintext, no token)."""
        env = os.environ if env is None else env
        values = {
            "ca_file": env.get(ENV_TLS_CA) or None,
            "cert_file": env.get(ENV_TLS_CERT) or None,
            "key_file": env.get(ENV_TLS_KEY) or None,
            "server_name": env.get(ENV_TLS_SERVER_NAME) or None,
            "token_file": env.get(ENV_TOKEN_FILE) or None,
        }
        if not any(values.values()):
            return None
        return cls(**values)


_default: ClientSecurity | None = None


def set_default_client_security(security: ClientSecurity | None) -> None:
    """Sets the process-wide client security (overrides the YATT_* variables); None clears it."""
    global _default
    _default = security


def default_client_security() -> ClientSecurity | None:
    """What make_channel uses when given no security: the one set above, else the env vars."""
    return _default if _default is not None else ClientSecurity.from_env()
