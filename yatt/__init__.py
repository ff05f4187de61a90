"""yatt: an RLHF trainer built as asyncio gRPC microservices.

The shared core (config, coordination, RPC runtime, codecs, the process registry), the
application (CLI, local cluster, job submission) and the test harness live here; services/,
controller/ and placement/ (the processes) are mapped under yatt.* by setup.py.
See docs/architecture.md for the layers.
"""

__version__ = "0.1.0"
