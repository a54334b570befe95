# -*- test-case-name: tests.unit.test_client_persist -*-
"""
The last lease of each interface on disk, so a restart (or reboot) can
INIT-REBOOT with it.

The file holds the ACK as bytes and the wall-clock time the lease was
obtained: monotonic times mean nothing after a reboot, wall-clock ones do.
Writes are atomic (temporary file, fsync, rename, fsync of the directory),
so a crash leaves the old lease or the new one, never half of either.
"""

from __future__ import annotations

import os

from dhcpsuite.client.core.lease import Lease
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.dhcp4.packet import decode_message
from dhcpsuite.lazylog import LazyLogger

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the early path does not import typing
    from typing import Any

FORMAT = 1
log = LazyLogger(__name__)


def lease_path(state_dir: str, ifname: str) -> str:
    return os.path.join(state_dir, "client", f"{ifname}.lease.json")


def lease_to_json(lease: Lease) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "address": str(lease.address),
        "server_id": str(lease.server_id),
        "acquired_wall": lease.acquired_wall,
        "expires_wall": lease.expires_wall,
        "ack": lease.reply.to_bytes().hex(),
    }


def lease_from_json(data: dict[str, Any], now: float, wall: float) -> Lease:
    """
    Rebuild a lease, placing its acquisition on today's monotonic clock by
    how long ago it was on the wall clock.

    @raise ValueError: the record is not a lease of ours.
    """
    if data.get("format") != FORMAT:
        raise ValueError(f"unknown format {data.get('format')!r}")
    try:
        ack = decode_message(bytes.fromhex(data["ack"]))
    except (DecodeError, KeyError, TypeError) as e:
        raise ValueError(f"bad ACK: {e}") from None
    acquired_wall = float(data["acquired_wall"])
    return Lease.from_ack(ack, now - (wall - acquired_wall), acquired_wall)


def write_atomic(path: str, data: bytes) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    temporary = f"{path}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temporary, path)
    directory_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


class LeaseFile:
    """
    One interface's persisted lease.
    """

    def __init__(self, state_dir: str, ifname: str) -> None:
        self.path = lease_path(state_dir, ifname)

    def save(self, lease: Lease) -> None:
        import json  # here: the early path reads no lease file on a first start

        try:
            write_atomic(self.path, json.dumps(lease_to_json(lease), indent=1).encode())
        except OSError as e:
            log.error("cannot save lease to {path}: {error}", path=self.path, error=e)

    def load(self, now: float, wall: float) -> Lease | None:
        try:
            with open(self.path, "rb") as f:
                text = f.read()
            import json  # after the open: no file, no json (~5 ms with re) on the early path

            data = json.loads(text)
            return lease_from_json(data, now, wall)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warn("ignoring lease file {path}: {error}", path=self.path, error=e)
            return None

    def forget(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError as e:
            log.error("cannot remove {path}: {error}", path=self.path, error=e)
