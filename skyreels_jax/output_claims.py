"""Claims on output files, so that processes sharing an output folder (on one machine, or on many hosts over a
shared file system) make each video once.

A claim is an exclusive flock on `.NAME.claim` next to the output. The kernel (or the NFS lock manager) drops
the lock when its process dies, however it dies, so the claim of a dead process is simply taken by the next
one that asks: no process ids or timeouts to judge. The file is removed once the video is written.
"""
from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from skyreels_jax.media import leftovers_of


def claim_file(output: Path) -> Path:
    return output.with_name(f".{output.name}.claim")


class Claim:
    """An exclusive claim on one output; `taken_over` says whether a dead process had claimed it before."""

    def __init__(self, output: Path, fd: int, taken_over: bool):
        self.output, self.fd, self.taken_over = output, fd, taken_over

    def release(self) -> None:
        """Remove the claim file (while still holding it, so no one can lock a file that is being removed)."""
        if self.fd < 0:
            return
        claim_file(self.output).unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def try_claim(output: str | Path) -> Claim | None:
    """Claim `output`; None when a live process holds it. The caller then checks whether the output is done
    (a process may have finished it just before) and, holding the claim, removes leftovers of dead writers."""
    output = Path(output)
    path = claim_file(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(10):  # another process may remove the file between our open and our lock: open it again
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        taken_over = os.fstat(fd).st_size > 0  # a dead holder's note is still in it
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()} {os.getpid()} {time.time():.0f}\n".encode())
        for stale in leftovers_of(output):  # temporary files of a dead writer of this output
            stale.unlink(missing_ok=True)
        return Claim(output, fd, taken_over)
    return None
