"""
Real network topologies for integration tests: namespaces joined by veth.

Every namespace name carries this process's PID and a counter, so parallel or
leftover runs never collide; every process started inside is tracked by PID
and killed on teardown, and the namespaces are deleted.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import signal
import socket
import subprocess
import threading
import time
from typing import Sequence

_counter = itertools.count()


def run(args: Sequence[str], check: bool = True, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=check, timeout=timeout, capture_output=True, text=True, **kw)


class Namespace:
    def __init__(self, name: str) -> None:
        self.name = name
        self.processes: list[subprocess.Popen] = []

    def exec_args(self, args: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, args: Sequence[str], check: bool = True, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        return run(self.exec_args(args), check=check, timeout=timeout, **kw)

    def spawn(self, args: Sequence[str], **kw) -> subprocess.Popen:
        """
        Start a long-running process inside the namespace, tracked for teardown.
        """
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.STDOUT)
        process = subprocess.Popen(self.exec_args(args), start_new_session=True, **kw)
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10) -> int | None:
        if process.poll() is None:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        return process.returncode

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        self.processes.clear()

    def ipv4_addresses(self, ifname: str) -> list[str]:
        import json

        out = self.run(["ip", "-j", "-4", "addr", "show", "dev", ifname]).stdout
        return [
            f"{a['local']}/{a['prefixlen']}"
            for link in json.loads(out or "[]")
            for a in link.get("addr_info", [])
        ]


def delete_namespace(ns: Namespace) -> None:
    """
    Kill what still runs inside C{ns} by PID (e.g. a daemonised client),
    then delete it.
    """
    for pid in run(["ip", "netns", "pids", ns.name], check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    run(["ip", "netns", "del", ns.name], check=False)


class VethPair:
    """
    Two namespaces, C{server} and C{client}, joined by one veth pair.

    The server end gets C{server_address}; the client end stays unaddressed
    unless C{client_address} is given. IPv6 is off on both ends (no router
    solicitations in captures), and tx checksum offload too (packet-socket
    clients drop frames with unfilled checksums on veth).
    """

    def __init__(
        self,
        server_address: str = "10.77.0.1/16",
        client_address: str | None = None,
        prefix: str = "dst",
        client_mac: str | None = None,
    ) -> None:
        tag = f"{prefix}{os.getpid()}x{next(_counter)}"
        self.server = Namespace(f"{tag}s")
        self.client = Namespace(f"{tag}c")
        self.server_if = "srv0"
        self.client_if = "cli0"
        self.server_address = server_address
        self.client_address = client_address
        self.client_mac = client_mac
        self._up = False

    def __enter__(self) -> "VethPair":
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def up(self) -> None:
        try:
            for ns in (self.server, self.client):
                run(["ip", "netns", "add", ns.name])
            self._up = True
            run([
                "ip", "link", "add", self.server_if, "netns", self.server.name, "type", "veth",
                "peer", "name", self.client_if, "netns", self.client.name,
            ])
            for ns in (self.server, self.client):
                ns.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"], check=False)
                ns.run(["ip", "link", "set", "lo", "up"])
            if self.client_mac:
                self.client.run(["ip", "link", "set", self.client_if, "address", self.client_mac])
            for ns, ifname in ((self.server, self.server_if), (self.client, self.client_if)):
                ns.run(["ethtool", "-K", ifname, "tx", "off"], check=False)
                ns.run(["ip", "link", "set", ifname, "up"])
            self.server.run(["ip", "addr", "add", self.server_address, "dev", self.server_if])
            if self.client_address:
                self.client.run(["ip", "addr", "add", self.client_address, "dev", self.client_if])
            self._wait_carrier()
        except BaseException:
            self.down()
            raise

    def _wait_carrier(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.server.run(["cat", f"/sys/class/net/{self.server_if}/operstate"], check=False).stdout
            if state.strip() == "up":
                return
            time.sleep(0.02)

    def down(self) -> None:
        for ns in (self.client, self.server):
            ns.stop_all()
        if self._up:
            for ns in (self.client, self.server):
                delete_namespace(ns)
            self._up = False

    def client_mac_address(self) -> str:
        return self.client.run(["cat", f"/sys/class/net/{self.client_if}/address"]).stdout.strip()


def wait_udp_listening(
    ns: Namespace, port: int, process: subprocess.Popen | None = None, timeout: float = 15.0
) -> None:
    """
    Wait until something in C{ns} listens on UDP C{port} (polling C{ss}).

    @param process: when given, its exit before then is an error.
    @raise RuntimeError: the process exited or C{timeout} passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on UDP {port}")
        if ns.run(["ss", "-Hlun", f"sport = :{port}"], check=False).stdout.strip():
            return
        if time.monotonic() >= deadline:
            raise RuntimeError(f"nothing listens on UDP {port} in {ns.name} after {timeout} s")
        time.sleep(0.05)


_UDP_EXCHANGE = r"""
import json, socket, sys, time
args = json.loads(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
if args["device"]:
    s.setsockopt(socket.SOL_SOCKET, 25, args["device"].encode() + b"\0")
s.bind(tuple(args["bind"]))
s.sendto(bytes.fromhex(args["payload"]), tuple(args["dest"]))
deadline = time.monotonic() + args["timeout"]
got = 0
while got < args["count"]:
    left = deadline - time.monotonic()
    if left <= 0:
        break
    s.settimeout(left)
    try:
        data, source = s.recvfrom(65535)
    except socket.timeout:
        break
    print(json.dumps({"source": list(source), "payload": data.hex()}), flush=True)
    got += 1
"""


def udp_exchange(
    ns: Namespace,
    payload: bytes,
    bind: tuple[str, int],
    dest: tuple[str, int],
    timeout: float = 3.0,
    count: int = 1,
    device: str | None = None,
) -> list[tuple[tuple[str, int], bytes]]:
    """
    From inside C{ns}: send one UDP datagram from C{bind} to C{dest}, then
    collect up to C{count} datagrams arriving at C{bind} within C{timeout}
    seconds.

    @param device: bind the socket to this interface (needed to send to
        255.255.255.255 without a default route).
    @return: (source address, payload) of each datagram received.
    """
    import json
    import sys

    args = json.dumps({
        "payload": payload.hex(), "bind": list(bind), "dest": list(dest),
        "timeout": timeout, "count": count, "device": device,
    })
    result = ns.run([sys.executable, "-c", _UDP_EXCHANGE, args], check=False, timeout=timeout + 30)
    if result.returncode != 0:
        raise RuntimeError(f"udp_exchange in {ns.name} from {bind} to {dest} failed: {result.stderr.strip()}")
    replies = []
    for line in result.stdout.splitlines():
        record = json.loads(line)
        replies.append(((record["source"][0], record["source"][1]), bytes.fromhex(record["payload"])))
    return replies


CLONE_NEWNET = 0x40000000


def listening_socket_in(namespace: str) -> socket.socket:
    """
    A TCP socket listening on 127.0.0.1 (ephemeral port) inside the named
    network namespace.
    """
    result: dict = {}

    def work():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/var/run/netns/{namespace}") as ns:
                if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            sock.setblocking(False)
            result["socket"] = sock
        except BaseException as e:  # reported in the calling thread
            result["error"] = e

    # The thread ends right after: its namespace change dies with it.
    thread = threading.Thread(target=work, name=f"setns-{namespace}")
    thread.start()
    thread.join(10)
    if "error" in result:
        raise result["error"]
    return result["socket"]
