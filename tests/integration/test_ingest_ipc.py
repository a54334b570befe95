"""
Lease ingest over nanomsg's IPC transport (the SP protocol on a UNIX
socket, each message length preceded by a type byte): real nanocat and
nngcat push to our endpoint, our plugins push to it, and our plugins'
bytes are what real nanocat and nngcat PULL sockets receive. The socket's
file mode is what keeps other local users out: with TCP on loopback any of
them can push.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile

import pytest
import pytest_twisted
from twisted.internet import threads

from dhcpsuite.ingest.plugins import udhcpc
from dhcpsuite.leases.registry import FAMILY_V4, FAMILY_V6
from tests.support.environment import require_programs, require_root
from tests.support.ingest import v4_message, wait_for
from tests.unit.test_ingest_layout import build

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

UDHCPC_ENV = {"interface": "erouter0", "ip": "192.0.2.10", "subnet": "255.255.255.0", "router": "192.0.2.1",
              "dns": "192.0.2.53", "lease": "3600", "serverid": "192.0.2.1"}


@pytest.fixture
def socket_dir():
    """
    A directory every user may enter, so that only the socket's own mode
    decides who may connect.
    """
    path = tempfile.mkdtemp(prefix="dhcpsuite-ipc-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def message_file(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    return path


@pytest_twisted.inlineCallbacks
def test_nanocat_and_nngcat_push_over_ipc(socket_dir, ingest_factory):
    """
    nanocat (nanomsg) and nngcat (nng) PUSH over ipc://; the socket is
    created 0600.
    """
    require_programs("nanocat", "nngcat")
    path = os.path.join(socket_dir, "ingest.sock")
    ingest = yield ingest_factory(endpoint=f"ipc://{path}", interfaces=("erouter0", "wan1"))
    mode = os.stat(path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600, oct(mode)
    assert ingest.service.health()["listening"] == path
    ingest.spawn(["timeout", "10", "nanocat", "--push", "--connect", ingest.url,
                  "--file", message_file(socket_dir, "a.bin", v4_message("erouter0", "10.0.0.5"))])
    yield wait_for(lambda: ingest.registry.lease("erouter0", FAMILY_V4), 10, "nanocat's lease")
    ingest.spawn(["timeout", "10", "nngcat", "--push0", "--dial", ingest.url, "--count", "3", "--interval", "0",
                  "--file", message_file(socket_dir, "b.bin", build("ilp32", 1, "wan1", {
                      "ia_na.assigned": 1, "ia_na.address": "2001:db8::8", "ia_na.ValidLifeTime": 100}))])
    yield wait_for(lambda: ingest.counters["accepted.v6"] >= 3, 10, "nngcat's three messages")
    assert str(ingest.registry.lease("wan1", FAMILY_V6).ia_na.address) == "2001:db8::8"
    assert str(ingest.registry.lease("erouter0", FAMILY_V4).address) == "10.0.0.5"
    counters = ingest.counters
    assert not [name for name in counters if name.startswith("closed.") or name.startswith("rejected.")], counters


@pytest_twisted.inlineCallbacks
def test_plugins_push_over_ipc(socket_dir, ingest_factory):
    """
    Both plugins take DHCPSUITE_INGEST_ADDRESS=ipc://PATH.
    """
    path = os.path.join(socket_dir, "ingest.sock")
    ingest = yield ingest_factory(endpoint=f"ipc://{path}", interfaces=("erouter0",))
    env = dict(os.environ, DHCPSUITE_INGEST_ADDRESS=ingest.url, **UDHCPC_ENV)
    process = ingest.spawn([sys.executable, "-m", "dhcpsuite.ingest.plugins.udhcpc", "bound"], env=env)
    yield wait_for(lambda: process.poll() is not None, 10, "the udhcpc plugin to exit")
    assert str(ingest.registry.lease("erouter0", FAMILY_V4).interface) == "192.0.2.10/24"
    env = dict(os.environ, DHCPSUITE_INGEST_ADDRESS=ingest.url, IFACE="erouter0", ADDR1="2001:db8::10",
               ADDR1PREF="3600", ADDR1VALID="7200")
    process = ingest.spawn([sys.executable, "-m", "dhcpsuite.ingest.plugins.dibbler", "add"], env=env)
    yield wait_for(lambda: process.poll() is not None, 10, "the dibbler plugin to exit")
    assert str(ingest.registry.lease("erouter0", FAMILY_V6).ia_na.address) == "2001:db8::10"


@pytest.mark.parametrize("receiver", [
    ["nanocat", "--pull", "--bind", "{url}", "--raw"],
    ["nngcat", "--pull0", "--listen", "{url}", "--raw", "--count", "1"],
])
def test_plugin_speaks_ipc_as_nanomsg_and_nng_receive_it(socket_dir, receiver):
    """
    Our plugin's IPC framing, checked by the real receivers: nanocat's and
    nngcat's PULL sockets print exactly the message the plugin built.
    """
    require_programs(receiver[0])
    url = f"ipc://{os.path.join(socket_dir, 'pull.sock')}"
    expected = udhcpc.build_message("bound", UDHCPC_ENV)
    pull = subprocess.Popen(["timeout", "15"] + [part.format(url=url) for part in receiver],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        env = dict(os.environ, DHCPSUITE_INGEST_ADDRESS=url, **UDHCPC_ENV)
        # The plugin retries 5 times 1 s apart while the receiver binds.
        subprocess.run([sys.executable, "-m", "dhcpsuite.ingest.plugins.udhcpc", "bound"], env=env, timeout=15,
                       check=True)
        received = b""
        while len(received) < len(expected):
            chunk = os.read(pull.stdout.fileno(), 65536) if _readable(pull.stdout, 5) else b""
            if not chunk:
                break
            received += chunk
        assert received == expected
    finally:
        if pull.poll() is None:
            os.killpg(pull.pid, 9)
        pull.wait(5)
        pull.stdout.close()


def _readable(stream, seconds: float) -> bool:
    import select

    return bool(select.select([stream], [], [], seconds)[0])


def _push_as_nobody(url: str, path: str) -> None:
    subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                    "timeout", "3", "nanocat", "--push", "--connect", url, "--file", path],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)


@pytest_twisted.inlineCallbacks
def test_mode_keeps_other_users_out(socket_dir, ingest_factory):
    """
    With the default 0600 another local user (nobody, running nanocat)
    cannot push; with ipc_mode 0666 the same push from the same user lands,
    so it is the mode that kept it out.
    """
    require_root()
    require_programs("nanocat", "setpriv")
    strict = yield ingest_factory(endpoint=f"ipc://{os.path.join(socket_dir, 'strict.sock')}",
                                  interfaces=("erouter0",))
    open_to_all = yield ingest_factory(endpoint=f"ipc://{os.path.join(socket_dir, 'open.sock')}",
                                       interfaces=("erouter0",), ipc_mode=0o666)
    data = message_file(socket_dir, "m.bin", v4_message("erouter0", "10.0.0.7"))
    yield threads.deferToThread(_push_as_nobody, strict.url, data)
    yield threads.deferToThread(_push_as_nobody, open_to_all.url, data)
    yield wait_for(lambda: open_to_all.registry.lease("erouter0", FAMILY_V4), 5, "the push through 0666")
    assert strict.registry.lease("erouter0", FAMILY_V4) is None
    assert strict.counters["connections"] == 0


@pytest_twisted.inlineCallbacks
def test_stale_socket_replaced_live_one_kept(socket_dir, ingest_factory):
    """
    A socket left by a killed daemon (nobody accepts on it) is replaced, as
    nanomsg's IPC bind replaces it; a socket someone listens on is not
    taken over.
    """
    path = os.path.join(socket_dir, "ingest.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays, as after SIGKILL
    ingest = yield ingest_factory(endpoint=f"ipc://{path}", interfaces=("erouter0",))
    env = dict(os.environ, DHCPSUITE_INGEST_ADDRESS=ingest.url, **UDHCPC_ENV)
    process = ingest.spawn([sys.executable, "-m", "dhcpsuite.ingest.plugins.udhcpc", "bound"], env=env)
    yield wait_for(lambda: ingest.registry.lease("erouter0", FAMILY_V4), 10, "the lease through the new socket")
    process.wait(5)
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live_path = os.path.join(socket_dir, "live.sock")
    live.bind(live_path)
    live.listen(1)
    try:
        from dhcpsuite.ingest.service import remove_stale_socket

        assert remove_stale_socket(live_path) is False
        assert os.path.exists(live_path)
    finally:
        live.close()
