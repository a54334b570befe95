"""
The persisted lease: wall-clock times, atomic writes, bad files ignored.
"""

import json
import os
import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.client.core.lease import Lease
from dhcpsuite.client.system.persist import LeaseFile, lease_path, write_atomic
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
            data = json.load(f)
        self.assertEqual(data["expires_wall"], WALL + 3600)
        self.assertEqual(data["acquired_wall"], WALL)

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
        self.file.forget()
        self.assertFalse(os.path.exists(self.file.path))
        self.file.forget()

    def test_atomic_write_leaves_no_temporary(self):
        path = os.path.join(self.dir, "sub", "x")
        write_atomic(path, b"one")
        write_atomic(path, b"two")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"two")
        self.assertEqual(os.listdir(os.path.dirname(path)), ["x"])
