"""
The daemon runs as an unprivileged user with only CAP_NET_BIND_SERVICE,
CAP_NET_RAW and CAP_NET_ADMIN (as contrib/dhcpsuite.service arranges with
AmbientCapabilities; here setpriv does the same), serves a real client, and
keeps its state and control socket private.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.integration.conftest import TWISTD, server_config, toml_document
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair, wait_udp_listening

# CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12), CAP_NET_RAW (13)
EXPECTED_CAPS = (1 << 10) | (1 << 12) | (1 << 13)
CAPS = "net_bind_service,net_raw,net_admin"


def proc_status(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def test_unprivileged_with_three_capabilities(clients):
    require_root()
    programs = require_programs("setpriv", "udhcpc")
    user = pwd.getpwnam("nobody")
    # pytest's tmp_path is private to root; the daemon's user must reach its files.
    shared = Path(tempfile.mkdtemp(prefix="dhcpsuite-priv-", dir="/tmp"))
    os.chmod(shared, 0o755)
    state = shared / "state"
    state.mkdir(mode=0o750)
    os.chown(state, user.pw_uid, user.pw_gid)
    config = server_config(state)
    socket_path = state / "control.sock"
    config["control"] = {"listen": f"unix:{socket_path}:mode=600"}
    path = shared / "dhcpsuite.toml"
    path.write_text(toml_document(config))
    os.chmod(path, 0o644)
    try:
        with VethPair() as pair:
            check_unprivileged(pair, programs, user, shared, path, state, socket_path, clients)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def check_unprivileged(pair, programs, user, shared, path, state, socket_path, clients) -> None:
    caps = "+" + CAPS.replace(",", ",+")
    output = open(shared / "daemon.out", "wb")
    process = pair.server.spawn(
        [
            programs["setpriv"], f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
            f"--inh-caps={caps}", f"--ambient-caps={caps}", f"--bounding-set=-all,{caps}",
            TWISTD, "-n", "--pidfile=", "dhcpsuite", "--config", str(path),
        ],
        stdout=output, stderr=subprocess.STDOUT, cwd=str(shared),
    )
    output.close()
    try:
        wait_udp_listening(pair.server, 67, process)
    except RuntimeError as e:
        raise AssertionError(f"{e}: {(shared / 'daemon.out').read_text()}") from None
    if True:
        status = proc_status(process.pid)
        assert status["Uid"].split()[0] == str(user.pw_uid), status["Uid"]
        assert int(status["CapEff"], 16) == EXPECTED_CAPS, status["CapEff"]
        assert int(status["CapBnd"], 16) == EXPECTED_CAPS, status["CapBnd"]

        client = clients.udhcpc(pair, "-q")
        client.wait_event({"bound"})
        assert client.environment(client.events().index("bound"))["ip"].startswith("10.77.0.")

        # Unicast replies at L2 need the packet socket (CAP_NET_RAW): none took another path.
        fetch = (
            "import http.client,socket,json,sys\n"
            "c=http.client.HTTPConnection('x'); s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); c.sock=s\n"
            "c.request('GET','/api/v1/server'); print(c.getresponse().read().decode())"
        )
        counters = pair.server.run([sys.executable, "-c", fetch, str(socket_path)]).stdout
        assert '"ack": 1' in counters and "send-failure" not in counters, counters

        database = state / "server-leases.sqlite3"
        assert stat.S_IMODE(database.stat().st_mode) == 0o640
        assert database.stat().st_uid == user.pw_uid
        assert stat.S_IMODE(state.stat().st_mode) == 0o750
        assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600, oct(socket_path.stat().st_mode)
        assert socket_path.stat().st_uid == user.pw_uid
        # twistd re-raises the stopping signal after a clean shutdown (systemd counts it as clean).
        assert pair.server.stop(process) in (0, -15)
        out = (shared / "daemon.out").read_text()
        assert "Server Shut Down." in out and "Traceback" not in out, out
