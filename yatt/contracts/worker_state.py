"""The states a worker slot reports in its member record (placement waits for SERVING)."""

from __future__ import annotations

from enum import StrEnum


class WorkerState(StrEnum):
    IDLE = "idle"  # nothing assigned
    STARTING = "starting"  # the assigned role's child is starting
    SERVING = "serving"  # the child answers: the slot counts for its role
    DRAINING = "draining"  # the old role's child finishes in-flight calls before a switch
    RESTARTING = "restarting"  # the child died or never came up; retried with backoff
    ERROR = "error"  # the assignment cannot run here (e.g. no config for the role)
    STOPPING = "stopping"  # the worker itself is shutting down
