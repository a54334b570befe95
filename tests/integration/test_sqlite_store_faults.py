"""
The SQLite store on a real filesystem that fails (issue 16 item 14): a small
tmpfs filled to full under load and then freed; an ext4 state directory the
kernel remounts read-only under load (C{errors=remount-ro}, triggered through
sysfs as a real I/O error would) and then repaired; a state directory that is
read-only before the daemon starts.

The promise each time: no commit is confirmed that is not on disk (no ACK
without a commit), the failures are counted, the store recovers by itself
when the disk does, and afterwards the file holds exactly what the index
holds. (ISC dhcpd logs a failed lease-file write and ACKs anyway; Kea's
memfile backend stops serving.)
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.leases.sqlite import SQLiteLeaseStore
from tests.integration.conftest import TWISTD, server_config, toml_document, wait_until
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair
from tests.unit.test_lease_stores import ThreadCallReactor

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

NOW = 1_800_000_000.0


def lease(n: int) -> Lease:
    return Lease(
        __import__("ipaddress").IPv4Address(0x0A000000 + n), LeaseState.BOUND, b"\x01c%d" % n,
        b"\x02\x00" + n.to_bytes(4, "big"), NOW + 3600, "host-%d" % n, NOW,
    )


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, timeout=30)


def unmount(path: Path) -> None:
    # The writer closes its connection after a failure, but a retry may be
    # opening it again at that moment: try a few times.
    for _ in range(50):
        if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode == 0:
            return
        time.sleep(0.05)
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


class Load:
    """
    Puts 20 leases at a time and waits for their commit, as the server
    does for its ACKs, until told to stop; records what was confirmed.
    """

    def __init__(self, store: SQLiteLeaseStore, reactor: ThreadCallReactor) -> None:
        self.store = store
        self.reactor = reactor
        self.confirmed: list[Lease] = []
        self.refused = 0
        self.next = 1

    def step(self) -> None:
        batch = [lease(self.next + i) for i in range(20)]
        self.next += 20
        for one in batch:
            self.store.put(one)
        [result] = self.reactor.run_until(self.store.committed(), 30)
        if result is None:
            self.confirmed.extend(batch)
        else:
            self.refused += 1
            time.sleep(0.02)

    def run_until(self, condition, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, "the load did not reach its condition in time"
            self.step()

    def check_disk(self, path: Path) -> None:
        """
        Every confirmed lease is in the file, and the file holds exactly the index.
        """
        [result] = self.reactor.run_until(self.store.close(), 30)
        assert self.store.join(10)
        reopened = SQLiteLeaseStore(str(path), reactor=self.reactor)
        try:
            on_disk = {l.address: l for l in reopened.leases()}
            lost = [l for l in self.confirmed if on_disk.get(l.address) != l]
            assert not lost, f"{len(lost)} of {len(self.confirmed)} confirmed leases missing, e.g. {lost[:3]}"
            assert on_disk == {l.address: l for l in self.store.leases()}
        finally:
            self.reactor.run_until(reopened.close(), 30)
            reopened.join(10)


def test_tmpfs_filled_under_load_then_freed(tmp_path) -> None:
    require_root()
    state = tmp_path / "state"
    state.mkdir()
    mount("-t", "tmpfs", "-o", "size=3m,mode=0750", "tmpfs", str(state))
    try:
        reactor = ThreadCallReactor()
        path = state / "server-leases.sqlite3"
        store = SQLiteLeaseStore(str(path), reactor=reactor)
        load = Load(store, reactor)
        load.run_until(lambda: len(load.confirmed) >= 200)
        filler = state / "filler"
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError as e:
                assert e.errno == errno.ENOSPC
        full_at = len(load.confirmed)
        load.run_until(lambda: load.refused >= 5)
        assert store.commit_failures >= 5
        # Nothing confirmed while the disk was full.
        assert len(load.confirmed) == full_at
        os.remove(filler)
        freed = time.monotonic()
        load.run_until(lambda: len(load.confirmed) >= full_at + 200)
        print(f"full for {store.unreachable_seconds:.2f} s, {load.refused} commits refused, "
              f"{store.commit_failures} failed attempts; serving again {time.monotonic() - freed:.2f} s after the space came back")
        load.check_disk(path)
    finally:
        unmount(state)


def test_ext4_remounted_read_only_under_load_then_repaired(tmp_path) -> None:
    require_root()
    programs = require_programs("mkfs.ext4", "e2fsck", "losetup", "findmnt")
    image = tmp_path / "state.img"
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    subprocess.run([programs["mkfs.ext4"], "-q", "-F", str(image)], check=True, timeout=60)
    state = tmp_path / "state"
    state.mkdir()
    mount("-o", "loop,errors=remount-ro", str(image), str(state))
    try:
        device = subprocess.run([programs["findmnt"], "-n", "-o", "SOURCE", str(state)], capture_output=True,
                                text=True, check=True, timeout=30).stdout.strip()
        trigger = Path("/sys/fs/ext4") / os.path.basename(device) / "trigger_fs_error"
        if not trigger.exists():
            from tests.support.environment import missing

            missing(f"needs {trigger} (Linux 5.x ext4) to make the kernel remount read-only")
        reactor = ThreadCallReactor()
        path = state / "server-leases.sqlite3"
        store = SQLiteLeaseStore(str(path), reactor=reactor)
        load = Load(store, reactor)
        load.run_until(lambda: len(load.confirmed) >= 200)
        # What the kernel does on a metadata I/O error with errors=remount-ro.
        trigger.write_text("dhcpsuite test\n")
        options = subprocess.run([programs["findmnt"], "-n", "-o", "OPTIONS", str(state)], capture_output=True,
                                 text=True, timeout=30).stdout
        assert options.startswith("ro") or "emergency_ro" in options, options
        ro_at = len(load.confirmed)
        load.run_until(lambda: load.refused >= 5)
        assert len(load.confirmed) == ro_at
        # The operator's repair: unmount, fsck, mount again at the same place.
        unmount(state)
        subprocess.run([programs["e2fsck"], "-fy", str(image)], capture_output=True, timeout=60)
        mount("-o", "loop,errors=remount-ro", str(image), str(state))
        load.run_until(lambda: len(load.confirmed) >= ro_at + 200)
        load.check_disk(path)
    finally:
        unmount(state)


def test_read_only_state_dir_refuses_to_start_in_one_line(tmp_path) -> None:
    require_root()
    state = tmp_path / "state"
    state.mkdir()
    mount("-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(state))
    try:
        path = tmp_path / "dhcpsuite.toml"
        path.write_text(toml_document(server_config(state)))
        with VethPair() as pair:
            result = pair.server.run([TWISTD, "-n", "--pidfile=", "dhcpsuite", "--config", str(path)],
                                     check=False, timeout=60)
        output = result.stdout + result.stderr
        assert result.returncode == 3, output
        assert f"cannot start: cannot open lease database {state}/server-leases.sqlite3: Read-only file system" in output, output
        assert "Traceback" not in output, output
    finally:
        unmount(state)
