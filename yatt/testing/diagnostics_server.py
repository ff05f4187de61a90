"""A yatt server with only the built-in services (health, reflection, diagnostics).

Runs as `python -m yatt.testing.diagnostics_server --set port=N ...` so tests can
exercise the runtime's signal handling and drain in a real separate process.
"""

from __future__ import annotations

import sys

import uvloop

from yatt.config import load_config
from yatt.config.common import EtcdConfig, RegistrationConfig, ServerConfig
from yatt.config.loader import ConfigModel
from yatt.logs import setup_logging
from yatt.rpc.app import serve
from yatt.rpc.server import ServiceRuntime


class DiagnosticsConfig(ConfigModel):
    server: ServerConfig = ServerConfig()
    etcd: EtcdConfig = EtcdConfig()
    registration: RegistrationConfig = RegistrationConfig()


async def run(cfg: DiagnosticsConfig) -> None:
    await serve(
        ServiceRuntime(cfg.server, "diagnostics"), "diagnostics", cfg.etcd, cfg.registration
    )


if __name__ == "__main__":
    setup_logging("diagnostics")
    overrides = [arg for arg in sys.argv[1:] if arg != "--set"]
    uvloop.run(run(load_config(DiagnosticsConfig, None, overrides)))
