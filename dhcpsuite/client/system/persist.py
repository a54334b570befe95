# -*- test-case-name: tests.unit.test_client_persist -*-
"""
The last lease of each interface on disk, so a restart (or reboot) can
INIT-REBOOT with it.

The file holds the ACK as bytes and the wall-clock time the lease was
obtained: monotonic times mean nothing after a reboot, wall-clock ones do.
Writes are atomic (temporary file, fsync, rename, fsync of the directory),
so a crash leaves the old lease or the new one, never half of either.

The file is C{KEY VALUE} lines (as systemd-networkd keeps its leases), not
JSON: it is read on the early path of every start after the first
(L{dhcpsuite.client.early}), before the first packet, and C{import json}
(which imports C{re} and compiles its patterns) costs ~11 % of that whole
start. Only C{acquired_wall} and C{ack} are read back; the other lines are
for the operator. A lease file of the JSON format that came before
(C{<ifname>.lease.json}) is still read, and replaced at the next save.
"""

from __future__ import annotations

import os

from dhcpsuite.client.core.lease import Lease
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.dhcp4.packet import decode_message
from dhcpsuite.lazylog import LazyLogger

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the early path does not import typing
    from collections.abc import Mapping
    from typing import Any

FORMAT = 2
# The JSON format's, read when no file of this format exists yet.
LEGACY_FORMAT = 1
log = LazyLogger(__name__)


def lease_path(state_dir: str, ifname: str) -> str:
    return os.path.join(state_dir, "client", f"{ifname}.lease")


def legacy_lease_path(state_dir: str, ifname: str) -> str:
    return os.path.join(state_dir, "client", f"{ifname}.lease.json")


def lease_fields(lease: Lease) -> dict[str, Any]:
    """
    What the file holds, by key.
    """
    return {
        "format": FORMAT,
        "address": str(lease.address),
        "server_id": str(lease.server_id),
        "acquired_wall": repr(lease.acquired_wall),
        "expires_wall": repr(lease.expires_wall),
        "ack": lease.reply.to_bytes().hex(),
    }


def lease_text(lease: Lease) -> str:
    lines = ["# dhcpsuite client lease: KEY VALUE lines; acquired_wall and ack are read back"]
    lines.extend(f"{key} {value}" for key, value in lease_fields(lease).items())
    return "\n".join(lines) + "\n"


def parse_lease_text(text: str) -> dict[str, str]:
    """
    @raise ValueError: a line that is not C{KEY VALUE}, or another format.
    """
    fields = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, space, value = line.partition(" ")
        if not space:
            raise ValueError(f"not a KEY VALUE line: {line[:40]!r}")
        fields[key] = value
    if fields.get("format") != str(FORMAT):
        raise ValueError(f"unknown format {fields.get('format', '')[:20]!r}")
    return fields


def lease_from_fields(fields: Mapping[str, Any], now: float, wall: float) -> Lease:
    """
    Rebuild a lease, placing its acquisition on today's monotonic clock by
    how long ago it was on the wall clock.

    @param fields: C{ack} (hex) and C{acquired_wall}, of either format.
    @raise ValueError: the record is not a lease of ours.
    """
    try:
        ack = decode_message(bytes.fromhex(fields["ack"]))
    except (DecodeError, KeyError, TypeError) as e:
        raise ValueError(f"bad ACK: {e}") from None
    acquired_wall = float(fields["acquired_wall"])
    if not -1e12 < acquired_wall < 1e12:  # also NaN
        raise ValueError(f"acquired_wall {acquired_wall!r} is not a time")
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
        self.legacy_path = legacy_lease_path(state_dir, ifname)

    def save(self, lease: Lease) -> None:
        try:
            write_atomic(self.path, lease_text(lease).encode())
        except OSError as e:
            log.error("cannot save lease to {path}: {error}", path=self.path, error=e)
            return
        _remove(self.legacy_path)

    def load(self, now: float, wall: float) -> Lease | None:
        path = self.path
        try:
            try:
                with open(path, "rb") as f:
                    fields = parse_lease_text(f.read().decode("utf-8"))
            except FileNotFoundError:
                path = self.legacy_path
                with open(path, "rb") as f:
                    fields = _legacy_fields(f.read())
            return lease_from_fields(fields, now, wall)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warn("ignoring lease file {path}: {error}", path=path, error=e)
            return None

    def forget(self) -> None:
        _remove(self.path)
        _remove(self.legacy_path)


def _legacy_fields(data: bytes) -> dict[str, Any]:
    import json  # only for a file of the JSON format: once, after an upgrade

    fields = json.loads(data)
    if not isinstance(fields, dict) or fields.get("format") != LEGACY_FORMAT:
        raise ValueError(f"unknown format {fields.get('format') if isinstance(fields, dict) else fields!r}")
    return fields


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        log.error("cannot remove {path}: {error}", path=path, error=e)
