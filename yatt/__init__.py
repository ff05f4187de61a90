"""yatt: an RLHF trainer built as asyncio gRPC microservices.

The shared core (CLI, config, coordination, RPC runtime, codecs) lives here;
services/, controller/ and placement/ are mapped under yatt.* by setup.py.
"""

__version__ = "0.1.0"
