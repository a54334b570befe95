"""
The persisted lease: wall-clock times, atomic writes, bad files ignored.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.client.core.lease import Lease
from dhcpsuite.client.system.persist import LeaseFile, lease_path, legacy_lease_path, parse_lease_text, write_atomic
from dhcpsuite.client.testing import reply_to
from dhcpsuite.dhcp4.constants import MessageType
from dhcpsuite.dhcp4.packet import Message

MAC = bytes.fromhex("020000000001")
WALL = 1_800_000_000.0


def lease(acquired=500.0, lease_time=3600):
    ack = reply_to(Message(op=1, xid=1, chaddr=MAC), MessageType.ACK, lease_time=lease_time)
    return Lease.from_ack(ack, acquired, WALL)


class PersistTests(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="dhcpsuite-persist-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.file = LeaseFile(self.dir, "wan0")

    def test_round_trip_maps_wall_time_onto_new_boottime(self):
        self.file.save(lease())
        # After a reboot: boottime restarted at 20 s, the wall clock moved 100 s.
        loaded = self.file.load(now=20.0, wall=WALL + 100)
        self.assertEqual(loaded.address, lease().address)
        self.assertEqual(loaded.acquired, 20.0 - 100)
        self.assertEqual(loaded.expires_at, 20.0 - 100 + 3600)
        self.assertEqual(loaded.acquired_wall, WALL)

    def test_file_carries_wall_clock_expiry(self):
        self.file.save(lease())
        with open(lease_path(self.dir, "wan0")) as f:
            data = parse_lease_text(f.read())
        self.assertEqual(float(data["expires_wall"]), WALL + 3600)
        self.assertEqual(float(data["acquired_wall"]), WALL)
        self.assertEqual(data["address"], str(lease().address))
        self.assertEqual(data["server_id"], str(lease().server_id))

    def test_a_saved_lease_is_read_without_json(self):
        """
        The lease file is read on the early path before the first packet of
        every start after the first: C{import json} (with C{re}) would cost
        ~11 % of that start. dhclient and dhcpcd read theirs without a
        general-purpose parser too (dhclient's own lease grammar, dhcpcd's
        raw BOOTP bytes).
        """
        self.file.save(lease())
        code = ("import sys\nfrom dhcpsuite.client.system.persist import LeaseFile\n"
                f"lease = LeaseFile({self.dir!r}, 'wan0').load(20.0, {WALL + 100!r})\n"
                "print(lease.address, sorted(m for m in sys.modules if m.split('.')[0] in ('json', 're')))\n")
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        self.assertEqual(output.strip(), f"{lease().address} []")

    def test_a_lease_file_of_the_json_format_is_read_then_replaced(self):
        ack = lease().reply.to_bytes().hex()
        legacy = legacy_lease_path(self.dir, "wan0")
        os.makedirs(os.path.dirname(legacy))
        with open(legacy, "w") as f:
            json.dump({"format": 1, "address": str(lease().address), "server_id": str(lease().server_id),
                       "acquired_wall": WALL, "expires_wall": WALL + 3600, "ack": ack}, f)
        loaded = self.file.load(now=20.0, wall=WALL + 100)
        self.assertEqual((loaded.address, loaded.acquired, loaded.acquired_wall), (lease().address, -80.0, WALL))
        self.file.save(loaded)
        self.assertEqual(sorted(os.listdir(os.path.dirname(legacy))), ["wan0.lease"])
        self.assertEqual(self.file.load(now=20.0, wall=WALL + 100).address, lease().address)

    def test_lines_that_are_not_a_lease(self):
        os.makedirs(os.path.dirname(self.file.path))
        self.file.save(lease())
        with open(self.file.path) as f:
            good = f.read()
        for text in (good.replace("format 2", "format 3"), good.replace("acquired_wall ", "acquired_wall nan#"),
                     good.replace("acquired_wall 1800000000.0", "acquired_wall nan"), good + "noseparator\n",
                     good.replace("ack ", "ack zz"), "\xff"):
            with open(self.file.path, "w") as f:
                f.write(text)
            self.assertIsNone(self.file.load(0, WALL), text)

    def test_missing_and_bad_files(self):
        self.assertIsNone(self.file.load(0, WALL))
        os.makedirs(os.path.dirname(self.file.path))
        with open(self.file.path, "w") as f:
            f.write("{not json")
        self.assertIsNone(self.file.load(0, WALL))
        with open(self.file.path, "w") as f:
            json.dump({"format": 1, "ack": "00", "acquired_wall": 1}, f)
        self.assertIsNone(self.file.load(0, WALL))

    def test_forget(self):
        self.file.save(lease())
        with open(self.file.legacy_path, "w") as f:
            f.write("{}")
        self.file.forget()
        self.assertFalse(os.path.exists(self.file.path))
        self.assertFalse(os.path.exists(self.file.legacy_path))
        self.file.forget()

    def test_atomic_write_leaves_no_temporary(self):
        path = os.path.join(self.dir, "sub", "x")
        write_atomic(path, b"one")
        write_atomic(path, b"two")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"two")
        self.assertEqual(os.listdir(os.path.dirname(path)), ["x"])
