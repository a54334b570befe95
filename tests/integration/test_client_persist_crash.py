"""
The client's persisted lease survives SIGKILL during writes: after each kill
the file holds the previous or the new lease, whole, never a torn one.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

from tests.integration.conftest import REPOSITORY

KILLS = 100

WRITER = r"""
import json, sys
from dhcpsuite.client.system.persist import write_atomic
path = sys.argv[1]
n = 0
while True:
    n += 1
    # Big enough that a write is not one page: a torn file would show.
    write_atomic(path, json.dumps({"n": n, "pad": "x" * 20000}).encode())
"""


def test_kill_9_during_lease_writes_never_tears_the_file(tmp_path):
    path = tmp_path / "client" / "cli0.lease.json"
    rng = random.Random(7)
    last = 0
    for _ in range(KILLS):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=REPOSITORY)
        time.sleep(rng.uniform(0.05, 0.15))
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        if not path.exists():
            continue
        data = json.loads(path.read_text())  # raises on a torn file
        assert len(data["pad"]) == 20000
        assert data["n"] >= 1
        last = data["n"]
    assert last > 0, "the writer never completed a write"
