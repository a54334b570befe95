"""
Crashes lose nothing: the server is killed with SIGKILL again and again
while a scripted relay drives DORA exchanges; every address that was ACKed
must still be bound to the client it was ACKed to, no address may have been
ACKed to two clients, and the store must open every time without repair.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import sys
import time

from tests.integration.conftest import REPOSITORY, server_config, subnet_config, wait_until
from tests.support.environment import require_root
from tests.support.netns import VethPair

KILLS = int(os.environ.get("DHCPSUITE_CRASH_KILLS", "50"))


def test_kill_9_under_load_loses_no_ack(tmp_path, daemons):
    require_root()
    state = tmp_path / "state"
    config = server_config(
        state,
        subnet_config(pool=["10.77.1.0-10.77.250.255"], lease_time=3600),
        log_exchanges=False,
    )
    rng = random.Random(1234)
    with VethPair(client_address="10.77.0.2/16") as pair:
        daemon = daemons.start(pair.server, config)
        out = tmp_path / "acked.json"
        seconds = 8 + KILLS * 1.5
        relay = pair.client.spawn(
            [sys.executable, "-m", "tests.support.relayclient", "10.77.0.2", "10.77.0.1", "1000000", str(seconds), str(out)],
            cwd=str(REPOSITORY),
        )
        started = time.monotonic()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.1, 0.5))
            daemon.stop(signal.SIGKILL)
            daemon = daemons.start(pair.server, config)
        kill_time = time.monotonic() - started
        time.sleep(1.5)
        relay.send_signal(signal.SIGTERM)
        wait_until(lambda: relay.poll() is not None, 30, "the relay client to finish")
        assert relay.returncode == 0, relay.stdout.read().decode(errors="replace") if relay.stdout else ""
        daemon.stop()

    acked = json.loads(out.read_text())
    assert len(acked) > KILLS * 20, f"too little traffic to mean anything: {len(acked)} ACKs in {kill_time:.0f} s"
    addresses = list(acked.values())
    assert len(set(addresses)) == len(addresses), "an address was ACKed to two clients"

    db = sqlite3.connect(f"file:{state / 'server-leases.sqlite3'}?mode=ro", uri=True)
    rows = {address: (state_, bytes(mac).hex()) for address, state_, mac in db.execute("SELECT address, state, mac FROM leases")}
    db.close()
    print(f"{KILLS} SIGKILLs in {kill_time:.1f} s, {len(acked)} ACKs, all checked against the store")
    lost = [(mac, address) for mac, address in acked.items() if rows.get(address) != ("bound", mac)]
    assert not lost, f"{len(lost)} of {len(acked)} ACKed bindings lost, e.g. {lost[:5]} -> {[rows.get(a) for _, a in lost[:5]]}"


def test_damaged_store_refuses_to_start_with_a_clear_message(tmp_path):
    require_root()
    state = tmp_path / "state"
    state.mkdir()
    (state / "server-leases.sqlite3").write_bytes(random.Random(3).randbytes(8192))
    config = server_config(state)
    path = tmp_path / "dhcpsuite.toml"
    from tests.integration.conftest import TWISTD, toml_document

    path.write_text(toml_document(config))
    with VethPair() as pair:
        result = pair.server.run([TWISTD, "-n", "--pidfile=", "dhcpsuite", "--config", str(path)], check=False, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    assert "cannot start: cannot open lease database" in output and "move it aside" in output, output
    assert "Traceback" not in output, output
    # Nothing was truncated or replaced.
    assert (state / "server-leases.sqlite3").read_bytes() == random.Random(3).randbytes(8192)
