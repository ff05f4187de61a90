"""A watchdog child of the trainer that frees its shared-memory segments when it dies, however.

`python -m yatt.transport.reaper PREFIX` waits for EOF on stdin (the trainer's end of the pipe
closes when the trainer exits, SIGKILL included), then unlinks /dev/shm/PREFIX*. Stdlib only.
"""

from __future__ import annotations

import signal
import subprocess
import sys

from yatt.transport.segments import SHM_DIR, owned_segments, remove


def spawn(prefix: str) -> subprocess.Popen[bytes]:
    """Starts the reaper in its own session, so a signal to the trainer's group spares it."""
    return subprocess.Popen(
        [sys.executable, "-m", "yatt.transport.reaper", prefix],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def main() -> None:
    prefix = sys.argv[1]
    # The trainer may still be draining: only its exit (EOF) ends the watch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):
        pass
    remove(owned_segments(prefix, SHM_DIR))


if __name__ == "__main__":
    main()
