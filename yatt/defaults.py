"""Address, port and size defaults, in one place."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_ETCD = "127.0.0.1:2379"
# 64 MiB: a weight chunk or an experience batch fits with room; larger data is streamed.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Pieces of a tensor stream; 4 MiB keeps per-message overhead low and memory flat.
CHUNK_BYTES = 4 * 1024 * 1024
# Bounds on a chunk size a client asks for: a tiny one would cost one message per few bytes,
# a huge one would pass the message size limit.
MIN_CHUNK_BYTES = 64 * 1024
MAX_CHUNK_BYTES = 16 * 1024 * 1024
# A job's start (Unix time, or a file holding it), exported by `yatt up` to every process;
# the sim reward plugin's schedules can count from it.
JOB_START_ENV = "YATT_JOB_START"
