"""The shm transport without services: bit-exact round trip, refusal of segments that do not
match their manifest, recycling, and freeing on close, on SIGKILL (reaper) and by the janitor."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from yatt.errors import InvalidArgument
from yatt.transport.segments import SHM_DIR, owned_segments, owner_prefix, sweep_dead
from yatt.transport.shm import ShmReceiver, ShmSender

# ShmSender starts its reaper child process.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def weights(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "w": torch.randn(33, 17, generator=g),
        "ids": torch.randint(0, 1000, (5,), generator=g),
        "h": torch.randn(9, generator=g).to(torch.bfloat16),
        "flag": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 4),
    }


@pytest.fixture
def sender():  # noqa: ANN201
    s = ShmSender("xport-test")
    try:
        yield s
    finally:
        s.close()


def test_round_trip_is_bit_exact_and_trainer_bytes_stay_untouched(sender: ShmSender) -> None:
    w = weights()
    m = sender.publish(1, w)
    assert sender.publish(1, w) is m  # one write per version, whoever asks
    assert m.handle == f"{sender.prefix}v1" and (SHM_DIR / m.handle).exists()
    receiver = ShmReceiver()
    got = receiver.receive(m)
    assert list(got) == list(w)
    for name, t in w.items():
        assert got[name].dtype == t.dtype and torch.equal(got[name], t), name
    got["w"].mul_(0)  # the rollout's mapping is private: the segment keeps the trainer's bytes
    receiver.release(1)
    again = ShmReceiver().receive(m)
    assert torch.equal(again["w"], w["w"])


def test_superseded_versions_are_recycled_and_close_frees_all(sender: ShmSender) -> None:
    sender.publish(1, weights(1))
    m2 = sender.publish(2, weights(2))
    names = sorted(p.name for p in sender.segments())
    # v1 went back to the pool (renamed, pages kept): one spare plus the live v2.
    assert len(names) == 2 and f"{sender.prefix}v2" in names and f"{sender.prefix}v1" not in names
    m3 = sender.publish(3, weights(3))  # reuses the spare
    assert len(sender.segments()) == 2
    got = ShmReceiver().receive(m3)
    assert torch.equal(got["w"], weights(3)["w"])
    with pytest.raises(InvalidArgument, match="does not exist"):
        ShmReceiver().receive(m2)
    sender.close()
    assert sender.segments() == []


def test_segment_that_does_not_match_its_manifest_is_refused(sender: ShmSender) -> None:
    m = sender.publish(1, weights())
    receiver = ShmReceiver()
    bad_sum = dataclasses.replace(m, checksum="xxh3_64:0123456789abcdef")
    with pytest.raises(InvalidArgument, match="checksum .* does not match"):
        receiver.receive(bad_sum)
    with pytest.raises(InvalidArgument, match="algorithm 'md5' unknown"):
        receiver.receive(dataclasses.replace(m, checksum="md5:00"))
    with pytest.raises(InvalidArgument, match=r"holds \d+ bytes, manifest says"):
        receiver.receive(dataclasses.replace(m, total_bytes=m.total_bytes + 64))
    e0 = m.entries[0]
    wrong_dtype = dataclasses.replace(e0, dtype="float64")
    with pytest.raises(InvalidArgument, match="do not match float64"):
        receiver.receive(dataclasses.replace(m, entries=(wrong_dtype, *m.entries[1:])))
    with pytest.raises(InvalidArgument, match="does not exist"):
        receiver.receive(dataclasses.replace(m, handle=f"{sender.prefix}v99"))
    with pytest.raises(InvalidArgument, match="not a yatt shared-memory segment"):
        receiver.receive(dataclasses.replace(m, handle="../etc/passwd"))
    # A byte changed after publication (a stray writer) is caught by the checksum.
    with open(SHM_DIR / m.handle, "r+b") as f:
        f.seek(m.entries[0].offset)
        f.write(b"\xff\xff")
    with pytest.raises(InvalidArgument, match="checksum"):
        receiver.receive(m)


OWNER = """
import sys, torch
from yatt.transport.shm import ShmSender
s = ShmSender("xport-kill")
s.publish(1, {"w": torch.ones(1000)})
s.publish(2, {"w": torch.ones(1000)})
print(s.prefix, flush=True)
sys.stdin.read()
"""


def start_owner() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", OWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    prefix = proc.stdout.readline().strip()  # type: ignore[union-attr]
    assert prefix == owner_prefix("xport-kill", proc.pid)
    assert len(owned_segments(prefix)) == 2
    return proc, prefix


def wait_gone(prefix: str, timeout: float = 10.0) -> list:
    deadline = time.monotonic() + timeout
    while owned_segments(prefix) and time.monotonic() < deadline:
        time.sleep(0.05)
    return owned_segments(prefix)


def test_sigkill_of_the_owner_leaves_nothing_behind() -> None:
    proc, prefix = start_owner()
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert wait_gone(prefix) == []  # its reaper noticed the pipe close
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_janitor_frees_segments_of_dead_owners_only(sender: ShmSender) -> None:
    sender.publish(1, weights())
    # A trainer killed together with its reaper (e.g. its whole cgroup) leaves this behind.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    orphan = SHM_DIR / f"{owner_prefix('xport-test', int(dead.stdout))}v3"
    orphan.write_bytes(b"x" * 128)
    try:
        removed = sweep_dead()
        assert orphan in removed and not orphan.exists()
        assert [p.name for p in sender.segments()] == [f"{sender.prefix}v1"]  # alive: kept
    finally:
        orphan.unlink(missing_ok=True)


def test_janitor_survives_absurd_pids_and_leaves_other_users_segments(sender: ShmSender) -> None:
    """A pid no kernel hands out used to raise OverflowError, a foreign file PermissionError:
    either one stopped the trainer from starting."""
    absurd = SHM_DIR / "yatt-xport_test-99999999999999999999-v1"
    foreign = SHM_DIR / f"{owner_prefix('xport-test', 2**22 + 7)}v2"  # beyond pid_max: dead
    for path in (absurd, foreign):
        path.write_bytes(b"x" * 64)
    try:
        if os.getuid() == 0:
            os.chown(foreign, 65534, 65534)  # nobody's
        removed = sweep_dead()
        assert absurd in removed and not absurd.exists()
        if os.getuid() == 0:
            assert foreign.exists() and foreign not in removed
    finally:
        absurd.unlink(missing_ok=True)
        foreign.unlink(missing_ok=True)


def test_receiver_refuses_segments_others_could_have_written(sender: ShmSender) -> None:
    m = sender.publish(1, weights())
    path = SHM_DIR / m.handle
    path.chmod(0o666)
    with pytest.raises(InvalidArgument, match="mode 666"):
        ShmReceiver().receive(m)
    path.chmod(0o600)
    if os.getuid() == 0:
        os.chown(path, 65534, 65534)
        with pytest.raises(InvalidArgument, match="owned by uid 65534"):
            ShmReceiver().receive(m)
        os.chown(path, 0, 0)
    assert torch.equal(ShmReceiver().receive(m)["w"], weights()["w"])
