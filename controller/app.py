"""Entry point of a controller process: run until the job is done or SIGTERM arrives."""

from __future__ import annotations

import asyncio
import logging

from yatt.controller.config import ControllerConfig
from yatt.controller.loop import Controller
from yatt.rpc.server import wait_for_signal

log = logging.getLogger(__name__)


async def run(cfg: ControllerConfig) -> None:
    controller = Controller(cfg)
    work = asyncio.create_task(controller.run())
    stop = asyncio.create_task(wait_for_signal())
    done, _ = await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
    if stop in done:
        log.info("signal received: releasing claimed shards")
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
    else:
        stop.cancel()
        work.result()
