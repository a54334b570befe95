"""
The server's decisions of issue 12 and 16 on a real wire: our daemon in one
namespace, a real client (busybox udhcpc) or crafted packets in the other.
The unit tests in tests/unit/test_server_conformance.py and
test_server_hardening.py are the regression tests at the core; these check
the same behaviour end to end.
"""

from __future__ import annotations

import signal

import pytest

from tests.integration.conftest import server_config, subnet_config, wait_until
from tests.integration.test_hostile_packets import control
from tests.integration.test_server import (
    ACK,
    DISCOVER,
    INFORM,
    NAK,
    OFFER,
    REQUEST,
    add_client_address,
    dhcp_message,
    exchange,
    needs,
)
from tests.support.netns import VethPair

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def test_memory_store_restart_renew_is_acked_not_nakked(tmp_path, daemons, clients):
    """
    12.2: a restart on the memory store loses every binding. udhcpc's
    RENEW at T1 must be ACKed for the same address (the binding re-created),
    as Kea and dhcpd do for a free in-pool address; dhcpsuite NAKed it and
    renumbered the client. Then the re-created binding holds: the address
    is not given to another client.
    """
    needs("udhcpc")
    config = server_config(tmp_path / "state", subnet_config(pool=["10.77.0.100-10.77.0.101"]), lease_store="memory")
    with VethPair(prefix="tsd", client_address="10.77.0.3/16") as pair:
        first = daemons.start(pair.server, config)
        client = clients.udhcpc(pair)
        bound, _ = client.wait_event({"bound"})
        address = client.environment(bound)["ip"]
        assert first.stop() is not None

        daemons.start(pair.server, config)
        client.signal(signal.SIGUSR1)
        index, event = client.wait_event({"renew", "nak", "deconfig", "leasefail"}, after=bound + 1)
        assert event == "renew", client.output()
        assert client.environment(index)["ip"] == address

        # Another client asking for that address in INIT-REBOOT is refused.
        other = dhcp_message(REQUEST, "02:00:00:00:0d:02", 0xD002, options=[(50, bytes(map(int, address.split("."))))])
        replies = [r for r in exchange(pair, other, ("0.0.0.0", 68), ("255.255.255.255", 67)) if r.xid == 0xD002]
        assert [r.message_type for r in replies] == [NAK]


def test_relayed_inform_is_answered_at_ciaddr(tmp_path, daemons):
    """
    12.3: an INFORM relayed with giaddr 10.77.0.2 from a client at
    10.77.0.3 is answered directly to 10.77.0.3:68 (RFC 2131 4.3.5), as Kea
    and dhcpd do; dhcpsuite sent it to the relay at giaddr:67, which would
    forward it to yiaddr 0.0.0.0. The socket that sent it (10.77.0.3:68)
    receives the ACK only when it is sent there.
    """
    needs()
    with VethPair(prefix="tsi", client_address="10.77.0.3/16") as pair:
        add_client_address(pair, "10.77.0.2/16")
        daemons.start(pair.server, server_config(tmp_path / "state"))
        inform = dhcp_message(INFORM, "02:00:00:00:0d:01", 0xD001, ciaddr="10.77.0.3", giaddr="10.77.0.2",
                              options=[(55, bytes([1, 3]))], relay_agent_info=b"\x01\x04port")
        replies = [r for r in exchange(pair, inform, ("10.77.0.3", 68), ("10.77.0.1", 67)) if r.xid == 0xD001]
        assert [r.message_type for r in replies] == [ACK]
        ack = replies[0]
        assert ack.source == ("10.77.0.1", 67)
        assert (str(ack.ciaddr), str(ack.yiaddr)) == ("10.77.0.3", "0.0.0.0")
        assert ack.options[82] == b"\x01\x04port"
        assert ack.addresses(3) == ["10.77.0.1"]


def broadcast(payload: bytes) -> bytes:
    # The broadcast flag: the test socket does not own the chaddr.
    packet = bytearray(payload)
    packet[10] |= 0x80
    return bytes(packet)


def test_untrusted_subnet_selection_is_refused_and_counted(tmp_path, daemons):
    """
    16.11: a client on srv0's LAN (10.77.0.0/16) asking for the
    relayed-only subnet 10.88.0.0/16, with option 118 or with its own
    address as giaddr plus link-selection (82.5), got leases there. With
    no C{trusted_relays} it gets no answer, and each refusal is counted as
    C{drop:untrusted-subnet-selection}; the same DISCOVER without the
    selection is answered from its own subnet (the control).
    """
    needs()
    relayed_only = {"subnet": "10.88.0.0/16", "server_address": "10.77.0.1", "pool": ["10.88.0.100-10.88.0.199"]}
    config = server_config(tmp_path / "state", subnet_config(), relayed_only)
    config["control"] = {"listen": "tcp:8067:interface=127.0.0.1"}
    with VethPair(prefix="tsu", client_address="10.77.0.2/16") as pair:
        daemons.start(pair.server, config)
        plain = broadcast(dhcp_message(DISCOVER, "02:00:00:00:0e:01", 0xE001))
        offers = [r for r in exchange(pair, plain, ("0.0.0.0", 68), ("255.255.255.255", 67)) if r.xid == 0xE001]
        assert [r.message_type for r in offers] == [OFFER]
        assert str(offers[0].yiaddr).startswith("10.77.0."), offers[0].yiaddr

        by_118 = broadcast(dhcp_message(DISCOVER, "02:00:00:00:0e:02", 0xE002, options=[(118, bytes([10, 88, 0, 0]))]))
        assert exchange(pair, by_118, ("0.0.0.0", 68), ("255.255.255.255", 67), timeout=1) == []
        forged = dhcp_message(DISCOVER, "02:00:00:00:0e:03", 0xE003, giaddr="10.77.0.2",
                              relay_agent_info=bytes([5, 4, 10, 88, 0, 0]))
        assert exchange(pair, forged, ("10.77.0.2", 67), ("10.77.0.1", 67), timeout=1) == []

        def counted() -> dict | None:
            counters = control(pair.server, "/api/v1/server")
            return counters if counters.get("drop:untrusted-subnet-selection") == 2 else None

        counters = wait_until(counted, 5, "two untrusted-subnet-selection drops")
        assert counters.get("offer") == 1, counters
