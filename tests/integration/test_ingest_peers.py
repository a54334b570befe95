"""
Lease ingest against real SP senders: nanocat --push (nanomsg), nngcat
--push0 (nng), pynng's Push0 and our own plugins as subprocesses. The
service runs in this process's reactor on 127.0.0.1 with an ephemeral port;
what arrives is checked in the lease registry.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task, threads

from dhcpsuite.leases.registry import FAMILY_V4, FAMILY_V6
from tests.support.environment import require_module, require_programs
from tests.support.ingest import v4_message, wait_for, write
from tests.unit.test_ingest_layout import build

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PYTHON = sys.executable


@pytest_twisted.inlineCallbacks
def test_nanocat_push_one_shot_every_layout(ingest_factory, tmp_path):
    """
    One nanocat process per message (as each plugin run is), every layout.
    """
    require_programs("nanocat")
    ingest = yield ingest_factory(accept_unmanaged=True)
    layouts = ("x86_64", "x86_64-nomape", "ilp32", "ilp32-nomape")
    for index, name in enumerate(layouts):
        path = write(tmp_path, f"{name}.bin", v4_message(f"nano{index}", f"10.0.0.{index + 10}", layout=name))
        ingest.spawn(["timeout", "10", "nanocat", "--push", "--connect", ingest.url, "-F", path])
    yield wait_for(lambda: len(ingest.registry.snapshot()) == len(layouts), 10, "4 nanocat messages")
    for index, name in enumerate(layouts):
        lease = ingest.registry.lease(f"nano{index}", FAMILY_V4)
        assert str(lease.address) == f"10.0.0.{index + 10}"
        assert lease.layout == name
    assert ingest.counters["accepted.v4"] == len(layouts)


@pytest_twisted.inlineCallbacks
def test_nanocat_push_stream(ingest_factory, tmp_path):
    """
    nanocat --push -i 0 repeats one message over one connection: many
    messages per connection, all decoded (renewals after the first).
    """
    require_programs("nanocat")
    ingest = yield ingest_factory(interfaces=("stream0",))
    path = write(tmp_path, "m.bin", v4_message("stream0", "10.0.0.7"))
    process = ingest.spawn(["timeout", "20", "nanocat", "--push", "--connect", ingest.url, "-F", path, "-i", "0"])
    yield wait_for(lambda: ingest.counters["accepted.v4"] >= 2000, 15, "2000 messages from nanocat")
    os.killpg(process.pid, signal.SIGKILL)
    assert ingest.counters["outcome.v4.updated"] == 1
    assert ingest.counters["outcome.v4.renewed"] >= 1999
    assert ingest.counters["connections"] == 1
    assert not any(key.startswith("rejected.") for key in ingest.counters)


@pytest_twisted.inlineCallbacks
def test_nngcat_push(ingest_factory, tmp_path):
    require_programs("nngcat")
    ingest = yield ingest_factory(interfaces=("nng0", "nng1"))
    one = write(tmp_path, "one.bin", v4_message("nng0", "10.0.0.8"))
    many = write(tmp_path, "many.bin", build("ilp32", 1, "nng1", {
        "ia_na.assigned": 1, "ia_na.address": "2001:db8::8", "ia_na.ValidLifeTime": 100}))
    ingest.spawn(["timeout", "10", "nngcat", "--push0", "--dial", ingest.url, "--file", one])
    ingest.spawn(["timeout", "20", "nngcat", "--push0", "--dial", ingest.url, "--file", many,
                  "--count", "500", "--interval", "0"])
    yield wait_for(lambda: ingest.counters["accepted.v4"] == 1 and ingest.counters["accepted.v6"] == 500,
                   15, "nngcat messages")
    assert str(ingest.registry.lease("nng0", FAMILY_V4).address) == "10.0.0.8"
    lease6 = ingest.registry.lease("nng1", FAMILY_V6)
    assert (str(lease6.ia_na.address), lease6.layout) == ("2001:db8::8", "ilp32")


@pytest_twisted.inlineCallbacks
def test_pynng_push(ingest_factory):
    pynng = require_module("pynng")
    ingest = yield ingest_factory(interfaces=("pynng0",))
    messages = [v4_message("pynng0", f"10.0.1.{i}") for i in range(1, 51)]

    def send_all():
        with pynng.Push0(send_timeout=5000) as push:
            push.dial(ingest.url, block=True)
            for message in messages:
                push.send(message)
            # nng has no linger either: wait until we know it was all read.
            deadline = time.monotonic() + 10
            while ingest.counters["accepted.v4"] < len(messages) and time.monotonic() < deadline:
                time.sleep(0.01)

    yield threads.deferToThread(send_all)
    assert ingest.counters["accepted.v4"] == 50
    assert ingest.counters["outcome.v4.updated"] == 50  # every address differs
    assert str(ingest.registry.lease("pynng0", FAMILY_V4).address) == "10.0.1.50"


def plugin(name: str, event: str, url: str, **env) -> list[str]:
    return [PYTHON, "-m", f"dhcpsuite.ingest.plugins.{name}", event]


@pytest_twisted.inlineCallbacks
def test_udhcpc_plugin_process(ingest_factory):
    """
    The plugin as udhcpc runs it: argv event, lease in the environment.
    """
    ingest = yield ingest_factory(interfaces=("erouter0",))
    env = dict(os.environ, DHCPSUITE_INGEST_ADDRESS=ingest.url, interface="erouter0", ip="192.0.2.10",
               subnet="255.255.255.0", router="192.0.2.1", dns="192.0.2.53", lease="3600", serverid="192.0.2.1")
    process = ingest.spawn(plugin("udhcpc", "bound", ingest.url), env=env)
    yield wait_for(lambda: process.poll() is not None, 10, "the plugin to exit")
    assert process.returncode == 0
    yield wait_for(lambda: ingest.registry.lease("erouter0", FAMILY_V4), 5, "the lease")
    lease = ingest.registry.lease("erouter0", FAMILY_V4)
    assert (str(lease.interface), lease.state, lease.lease_time) == ("192.0.2.10/24", "bound", 3600)
    process = ingest.spawn(plugin("udhcpc", "deconfig", ingest.url), env=env)
    yield wait_for(lambda: ingest.registry.lease("erouter0", FAMILY_V4) is None, 10, "the lease to be cleared")
    assert [c.cause for c in ingest.listener.changes] == ["updated", "expired"]


DIBBLER_ENV = {
    "IFACE": "erouter0", "ADDR1": "2001:db8::10", "ADDR1IAID": "1", "ADDR1PREF": "3600", "ADDR1VALID": "7200",
    "ADDR1T1": "1800", "ADDR1T2": "2880", "PREFIX1": "2001:db8:100::", "PREFIX1LEN": "56", "PREFIX1IAID": "2",
    "PREFIX1PREF": "3600", "PREFIX1VALID": "7200", "PREFIX1T1": "1800", "PREFIX1T2": "2880",
    "SRV_OPTION23": "2001:db8::53 2001:db8::54", "SRV_OPTION24": "isp.example", "SRV_OPTION31": "2001:db8::123",
    "SRV_OPTION64": "aftr.isp.example", "SRV_OPTION95": "00010203", "SRV_OPTION17": "0000118b",
}


@pytest_twisted.inlineCallbacks
def test_dibbler_plugin_process(ingest_factory):
    """
    The dibbler plugin driven with the reference's environment: add, a
    PD-only update (IA_NA kept), a stale delete (ignored), the real delete.
    """
    ingest = yield ingest_factory(interfaces=("erouter0",))

    @defer.inlineCallbacks
    def run(event, env):
        process = ingest.spawn(plugin("dibbler", event, ingest.url),
                               env=dict(os.environ, DHCPSUITE_INGEST_ADDRESS=ingest.url, **env))
        yield wait_for(lambda: process.poll() is not None, 10, f"dibbler plugin {event}")
        assert process.returncode == 0

    yield run("add", DIBBLER_ENV)
    yield wait_for(lambda: ingest.counters["accepted.v6"] == 1, 5, "the add")
    lease = ingest.registry.lease("erouter0", FAMILY_V6)
    assert str(lease.ia_na.address) == "2001:db8::10"
    assert (lease.ia_na.iaid, lease.ia_na.preferred_lifetime, lease.ia_na.valid_lifetime) == (1, 3600, 7200)
    assert str(lease.ia_pd.prefix) == "2001:db8:100::/56"
    assert [str(a) for a in lease.dns_servers] == ["2001:db8::53", "2001:db8::54"]
    assert (lease.domain_name, lease.ntp_servers, lease.aftr) == ("isp.example", ("2001:db8::123",), "aftr.isp.example")
    assert (lease.mapt, lease.vendor_option17) == ("00010203", "0000118b")

    pd_only = {k: v for k, v in DIBBLER_ENV.items() if not k.startswith("ADDR1")}
    yield run("update", dict(pd_only, PREFIX1VALID="9000"))
    yield wait_for(lambda: ingest.counters["accepted.v6"] == 2, 5, "the update")
    lease = ingest.registry.lease("erouter0", FAMILY_V6)
    assert str(lease.ia_na.address) == "2001:db8::10"  # kept from the add
    assert lease.ia_pd.valid_lifetime == 9000
    assert ingest.counters["outcome.v6.renewed"] == 1

    yield run("expire", dict(pd_only, PREFIX1="2001:db8:200::"))
    yield wait_for(lambda: ingest.counters["outcome.v6.stale"] == 1, 5, "the stale delete")
    assert ingest.registry.lease("erouter0", FAMILY_V6) is not None

    yield run("delete", DIBBLER_ENV)
    yield wait_for(lambda: ingest.registry.lease("erouter0", FAMILY_V6) is None, 5, "the delete")
    assert [c.cause for c in ingest.listener.changes] == ["updated", "renewed", "expired"]


@pytest_twisted.inlineCallbacks
def test_plugin_retries_until_listener_appears(ingest_factory, tmp_path):
    """
    Started before anything listens, the plugin retries (1 s apart) and
    gets through once the endpoint is up.
    """
    import socket

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    url = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, DHCPSUITE_INGEST_ADDRESS=url, interface="late0", ip="10.0.0.2", subnet="255.0.0.0")
    process = subprocess.Popen(plugin("udhcpc", "bound", url), env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield task.deferLater(reactor, 1.3, lambda: None)
        assert process.poll() is None  # still retrying
        ingest = yield ingest_factory(endpoint=f"tcp:{port}:interface=127.0.0.1", interfaces=("late0",))
        yield wait_for(lambda: ingest.registry.lease("late0", FAMILY_V4), 6, "the retried message")
        yield wait_for(lambda: process.poll() is not None, 5, "the plugin to exit")
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def test_plugins_import_no_twisted():
    """
    The plugins start in milliseconds: standard library only.
    """
    code = ("import sys, dhcpsuite.ingest.plugins.udhcpc, dhcpsuite.ingest.plugins.dibbler; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('twisted', 'attr', 'attrs', 'zope')); "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
