"""gRPC health checking on the event loop, List included.

grpcio-health-checking's asyncio servicer implements Check and Watch only; List fell through
to the generated synchronous base, which answered UNIMPLEMENTED from a worker thread (and
hung when a blocked RPC held every thread), while reflection advertised it.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer as _AsyncHealthServicer


class HealthServicer(_AsyncHealthServicer):
    async def List(
        self, request: health_pb2.HealthListRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthListResponse:
        """Every registered service (the server as a whole is "") with its serving status."""
        statuses = {
            service: health_pb2.HealthCheckResponse(status=status)
            for service, status in self._server_status.items()
        }
        return health_pb2.HealthListResponse(statuses=statuses)
