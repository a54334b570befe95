"""
Differential conformance (issue 12): the same crafted packets sent to
dhcpsuite, ISC Kea 2.2 and ISC dhcpd 4.4, each serving the same subnet, pool,
options and lease times (L{tests.support.peers.Network}) in its own pair of
namespaces, and the replies compared field by field on the wire: Ethernet
destination, IP/UDP addressing, every BOOTP field and every option.

Each server runs once per module, in an authoritative and a
non-authoritative variant; scenarios stay independent by using their own
MACs, xids and addresses. A scenario asserts what dhcpsuite must do AND what
the peers were measured doing (Kea 2.2.0, dhcpd 4.4.3-P1 on Debian 12), so a
peer upgrade that changes the comparison shows up as a failure here instead
of silently changing what "like Kea" means. Where dhcpsuite deliberately
differs, the docstring says why.

Silence is a 2 s window with no reply carrying the scenario's xid.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import json
import sys
from pathlib import Path
from typing import Callable, Iterable

import attrs
import pytest

from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair
from tests.support.peers import (
    ACK, CONTROL_PORT, DECLINE, DISCOVER, INFORM, LAUNCHERS, NAK, OFFER, RELEASE, REQUEST, Network, Peer, Reply,
    bootp, exchange, frame, interface_mac, wait_serving,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NET = Network()
NAMES = ("dhcpsuite", "kea", "dhcpd")
PEERS = ("kea", "dhcpd")
AUTHORITATIVE, NON_AUTHORITATIVE = "authoritative", "non-authoritative"
# Seconds without a reply that count as silence; and the longest wait for
# a reply that should come (the machine may be busy: it ends at the reply).
SILENCE, ANSWER = 2.0, 5.0
# Addresses the client namespace owns besides the relay's, so that servers
# can ARP for a ciaddr: an INFORM client, free pool addresses to RENEW/REBIND.
INFORM_CLIENT = NET.address(3)
FREE_RENEW, FREE_REBIND = NET.address(150), NET.address(151)
OUTSIDE = "10.99.0.5"  # in no subnet any server serves
PRL = (55, bytes([1, 3, 6, 15, 51, 54, 58, 59]))
PRL_LARGE = (55, bytes([1, 3, 6, 15, 51, 54, 58, 59, *NET.large]))
# Option 82 as a relay agent or a snooping switch adds it: circuit-id, remote-id.
AGENT_INFO = (82, b"\x01\x06eth0/1\x02\x0arelay-test")
# What every server sends for this network when asked for PRL.
CONFIGURED = {
    1: ipaddress.IPv4Address("255.255.255.0").packed,
    3: ipaddress.IPv4Address(NET.server).packed,
    6: ipaddress.IPv4Address(NET.dns).packed,
    15: NET.domain.encode(),
    51: NET.lease_time.to_bytes(4, "big"),
    54: ipaddress.IPv4Address(NET.server).packed,
    58: NET.renewal_time.to_bytes(4, "big"),
    59: NET.rebinding_time.to_bytes(4, "big"),
}


def mac(scenario: int, n: int = 0) -> bytes:
    return bytes((0x02, 0xD1, 0, 0, scenario, n))


def packed(address: str) -> bytes:
    return ipaddress.IPv4Address(address).packed


@attrs.define
class Target:
    """
    One server under test and the link it serves: the client end sends as
    any client or relay would.
    """

    peer: Peer
    server_mac: bytes
    client_mac: bytes

    @property
    def pair(self) -> VethPair:
        return self.peer.pair

    def direct(self, kind: int, chaddr: bytes, xid: int, **kw) -> bytes:
        """
        Broadcast from an unaddressed client (source 0.0.0.0:68).
        """
        return frame(bootp(kind, chaddr, xid, **kw), chaddr)

    def unicast(self, kind: int, chaddr: bytes, xid: int, source: str, **kw) -> bytes:
        """
        From an addressed client at C{source}:68 to the server, as a RENEW is.
        """
        return frame(bootp(kind, chaddr, xid, ciaddr=source, **kw), chaddr, dst_mac=self.server_mac,
                     src=source, dst=NET.server)

    def broadcast_from(self, kind: int, chaddr: bytes, xid: int, source: str, **kw) -> bytes:
        """
        Broadcast from an addressed client, as a REBIND is.
        """
        return frame(bootp(kind, chaddr, xid, ciaddr=source, **kw), chaddr, src=source)

    def relayed(self, kind: int, chaddr: bytes, xid: int, hops: int = 1, **kw) -> bytes:
        """
        From a relay agent: NET.relay:67 to the server:67, giaddr set.
        """
        return frame(bootp(kind, chaddr, xid, giaddr=NET.relay, hops=hops, **kw), self.client_mac,
                     dst_mac=self.server_mac, src=NET.relay, dst=NET.server, sport=67)


class Lab:
    """
    Every server of both variants, and a way to run one scenario against
    several of them at once (the waits overlap).
    """

    def __init__(self, targets: dict[str, dict[str, Target]]) -> None:
        self.targets = targets

    def run(self, build: Callable[[Target], list[bytes]], xids: Iterable[int], variant: str = AUTHORITATIVE,
            answered: bool = True, expect: int = 1) -> dict[str, list[Reply]]:
        """
        Send what C{build} makes for each server and collect the replies.

        @param answered: a scenario where a conforming server answers every
            request (C{expect} replies): stop once they have come, waiting
            up to ANSWER seconds. Otherwise wait the whole SILENCE window
            (some requests must go unanswered).
        """
        xids = list(xids)
        with concurrent.futures.ThreadPoolExecutor(len(NAMES)) as pool:
            futures = {
                name: pool.submit(exchange, self.targets[variant][name].pair.client,
                                  build(self.targets[variant][name]), xids,
                                  ANSWER if answered else SILENCE, expect if answered else 0)
                for name in NAMES
            }
            return {name: future.result() for name, future in futures.items()}

    def peers(self) -> Iterable[Peer]:
        for variant in self.targets.values():
            for target in variant.values():
                yield target.peer


def _start(variant: str, name: str, workdir: Path) -> Target:
    pair = VethPair(server_address=f"{NET.server}/24", prefix="dif")
    pair.up()
    try:
        pair.client.run(["ip", "link", "set", pair.client_if, "promisc", "on"])
        for address in (NET.relay, INFORM_CLIENT, FREE_RENEW, FREE_REBIND):
            pair.client.run(["ip", "addr", "add", f"{address}/24", "dev", pair.client_if])
        workdir.mkdir(parents=True)
        peer = LAUNCHERS[name](pair, workdir, NET, variant == AUTHORITATIVE)
        wait_serving(peer, NET)
        return Target(peer, interface_mac(pair.server, pair.server_if), interface_mac(pair.client, pair.client_if))
    except BaseException:
        pair.down()
        raise


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_root()
    require_programs("kea-dhcp4", "dhcpd", "ethtool")
    base = tmp_path_factory.mktemp("differential")
    jobs = [(variant, name) for variant in (AUTHORITATIVE, NON_AUTHORITATIVE) for name in NAMES]
    targets: dict[str, dict[str, Target]] = {AUTHORITATIVE: {}, NON_AUTHORITATIVE: {}}
    errors = []
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        futures = {job: pool.submit(_start, *job, base / f"{job[0]}-{job[1]}") for job in jobs}
        for (variant, name), future in futures.items():
            try:
                targets[variant][name] = future.result()
            except Exception as e:
                errors.append(f"{variant} {name}: {e}")
    lab = Lab(targets)
    try:
        if errors:
            pytest.fail("\n".join(errors))
        yield lab
    finally:
        for peer in lab.peers():
            peer.pair.down()


# ---------------------------------------------------------------------------
# Comparison helpers

def only(replies: dict[str, list[Reply]], name: str, kind: int | None = None) -> Reply:
    """
    The one reply C{name} sent (of type C{kind} when given).
    """
    got = replies[name]
    assert len(got) == 1, f"{name}: expected one reply, got {got}"
    if kind is not None:
        assert got[0].message_type == kind, f"{name}: expected type {kind}, got {got[0]}"
    return got[0]


def silent(replies: dict[str, list[Reply]], *names: str) -> None:
    for name in names:
        assert replies[name] == [], f"{name} answered: {replies[name]}"


def agree(replies: dict[str, Reply], *fields: str) -> None:
    """
    The named fields are equal in every reply given, field by field: first
    among the peers (what is recorded), then dhcpsuite against them, so a
    failure says which side moved. The lease time (option 51) only has to
    be within 5 s of the configured one.
    """
    values = {name: reply.fields() for name, reply in replies.items()}
    for name, reply in replies.items():
        # dhcpd states what is left of the lease it recorded a moment ago:
        # a second less now and then. Compared apart, within a few seconds.
        lease_time = values[name]["options"].pop(51, None)
        if lease_time is not None:
            assert NET.lease_time - 5 <= int(lease_time, 16) <= NET.lease_time, f"{name}: lease time {reply}"
    peers = [name for name in values if name != "dhcpsuite"]
    for group in (peers, list(values)):
        for field in fields:
            seen = {name: values[name][field] for name in group}
            assert len({json.dumps(v, sort_keys=True) for v in seen.values()}) == 1, f"{field} differs: {seen}"


def options_equal(reply: Reply, expected: dict[int, bytes], *extra: int) -> None:
    """
    Exactly C{expected} plus message type (and the C{extra} codes, any value).
    """
    got = {code: value for code, value in reply.options.items() if code not in (53, *extra)}
    assert got == expected, f"options {sorted(got)} != {sorted(expected)}: {reply}"


def bind(lab: Lab, chaddr: bytes, xid: int) -> dict[str, str]:
    """
    DORA for C{chaddr} with every authoritative server (xids C{xid} and
    C{xid + 1}). @return: the address each server ACKed.
    """
    first = lab.run(lambda t: [t.direct(DISCOVER, chaddr, xid, options=[PRL])], [xid])
    offered = {name: only(first, name, OFFER).yiaddr for name in (*PEERS, "dhcpsuite")}
    second = lab.run(lambda t: [t.direct(REQUEST, chaddr, xid + 1, options=[
        PRL, (50, packed(offered[t.peer.name])), (54, packed(NET.server))])], [xid + 1])
    for name in (*PEERS, "dhcpsuite"):
        assert only(second, name, ACK).yiaddr == offered[name], second[name]
    return offered


def server_counters(target: Target) -> dict:
    fetch = ("import urllib.request;print(urllib.request.urlopen("
             f"'http://127.0.0.1:{CONTROL_PORT}/api/v1/server', timeout=5).read().decode())")
    return json.loads(target.pair.server.run([sys.executable, "-c", fetch]).stdout)


# ---------------------------------------------------------------------------
# Happy paths: the three agree

def test_direct_dora_agrees_field_by_field(lab):
    """
    DISCOVER then REQUEST (SELECTING) from an unaddressed client without
    the broadcast bit. All three OFFER and ACK the same address (the pool's
    next free one) L2-unicast to chaddr at yiaddr:68, with identical BOOTP
    fields and identical options (Kea pads to 299 bytes, the others to 300;
    size is not compared).
    """
    first = lab.run(lambda t: [t.direct(DISCOVER, mac(1), 0x0101, options=[PRL])], [0x0101])
    offers = {name: only(first, name, OFFER) for name in (*PEERS, "dhcpsuite")}
    agree(offers, "eth_dst", "ip_src", "ip_dst", "sport", "dport", "op", "htype", "hlen", "hops", "xid", "flags",
          "ciaddr", "yiaddr", "siaddr", "giaddr", "chaddr", "options")
    offer = offers["dhcpsuite"]
    assert offer.eth_dst == mac(1) and offer.ip_dst == offer.yiaddr and offer.dport == 68
    options_equal(offer, CONFIGURED)

    requested = {name: packed(reply.yiaddr) for name, reply in offers.items()}
    second = lab.run(lambda t: [t.direct(REQUEST, mac(1), 0x0102, options=[
        PRL, (50, requested[t.peer.name]), (54, packed(NET.server))])], [0x0102])
    acks = {name: only(second, name, ACK) for name in (*PEERS, "dhcpsuite")}
    agree(acks, "eth_dst", "ip_dst", "dport", "op", "hops", "flags", "ciaddr", "yiaddr", "giaddr", "chaddr",
          "options")
    assert acks["dhcpsuite"].yiaddr == offer.yiaddr
    options_equal(acks["dhcpsuite"], CONFIGURED)


def test_relayed_dora_is_answered_to_the_relay(lab):
    """
    A relayed DISCOVER and REQUEST (giaddr, from port 67, option 82): every
    server answers to giaddr:67 with giaddr and option 82 echoed and the
    same address and options.

    Differences recorded: Kea and dhcpd copy the request's hops into the
    reply; dhcpsuite sends hops 0, as RFC 2131 Table 3 says for a server
    (kept deliberately). Kea's raw mode puts the *client's* MAC (chaddr) as
    the Ethernet destination of a frame for the relay's IP address; dhcpd
    and dhcpsuite use the relay's MAC (what a routed unicast needs).
    """
    first = lab.run(lambda t: [t.relayed(DISCOVER, mac(2), 0x0201, options=[PRL, AGENT_INFO])], [0x0201])
    offers = {name: only(first, name, OFFER) for name in (*PEERS, "dhcpsuite")}
    assert offers["kea"].hops == offers["dhcpd"].hops == 1
    agree(offers, "ip_dst", "sport", "dport", "flags", "ciaddr", "yiaddr", "giaddr", "chaddr", "options")
    offer = offers["dhcpsuite"]
    assert (offer.ip_dst, offer.dport, offer.giaddr) == (NET.relay, 67, NET.relay)
    options_equal(offer, {**CONFIGURED, 82: AGENT_INFO[1]})
    assert offer.hops == 0
    for name, reply in offers.items():
        assert reply.eth_dst == lab.targets[AUTHORITATIVE][name].client_mac, f"{name}: {reply}"

    requested = {name: packed(reply.yiaddr) for name, reply in offers.items()}
    second = lab.run(lambda t: [t.relayed(REQUEST, mac(2), 0x0202, options=[
        PRL, (50, requested[t.peer.name]), (54, packed(NET.server)), AGENT_INFO])], [0x0202])
    acks = {name: only(second, name, ACK) for name in (*PEERS, "dhcpsuite")}
    agree(acks, "ip_dst", "dport", "ciaddr", "yiaddr", "giaddr", "chaddr", "options")
    assert acks["dhcpsuite"].yiaddr == offer.yiaddr


# ---------------------------------------------------------------------------
# Item 1: coexistence with other servers on the segment

def test_non_authoritative_never_naks_what_is_not_ours(lab):
    """
    Non-authoritative, a client of some other server (10.99.0.5, in no
    subnet we serve) RENEWs (unicast to us), REBINDs (broadcast, at T2,
    when its own server is likely down) and INIT-REBOOTs (broadcast,
    requested address 10.99.0.5). dhcpsuite must stay silent for all three
    (RFC 2131 §4.3.2: extend only with administrative authority; silence
    for peaceful coexistence).

    Measured: dhcpd (not authoritative) is silent for all three. Kea
    (authoritative false) is silent for the REBIND and the INIT-REBOOT but
    NAKs the unicast RENEW (to ciaddr, at the client's MAC): a packet sent
    to Kea's own address is taken as meant for it. dhcpsuite follows dhcpd:
    a RENEW for an address outside every subnet we serve is never ours.
    """
    sent = lab.run(lambda t: [
        t.unicast(REQUEST, mac(3, 1), 0x0301, OUTSIDE, options=[PRL]),
        t.broadcast_from(REQUEST, mac(3, 2), 0x0302, OUTSIDE, options=[PRL]),
        t.direct(REQUEST, mac(3, 3), 0x0303, options=[PRL, (50, packed(OUTSIDE))]),
    ], [0x0301, 0x0302, 0x0303], variant=NON_AUTHORITATIVE, answered=False)
    silent(sent, "dhcpd")
    nak = only(sent, "kea", NAK)
    assert nak.xid == 0x0301 and nak.ip_dst == OUTSIDE
    silent(sent, "dhcpsuite")


def test_authoritative_naks_only_its_own_subnets(lab):
    """
    Authoritative: a RENEW (unicast) or REBIND (broadcast) for 10.99.0.5,
    which is in no subnet we serve, is not ours to refuse: silence. An
    INIT-REBOOT asking for 10.99.0.5 on our segment is a client on the
    wrong network: NAK, broadcast (RFC 2131 §4.3.2 "SHOULD send a DHCPNAK
    ... if the client is on the wrong network"; the client then restarts
    at INIT instead of waiting its whole reboot timeout).

    Measured: dhcpd (authoritative) is silent for the RENEW and the REBIND
    and NAKs the INIT-REBOOT, broadcast with the broadcast bit set and a
    message (option 56). Kea (authoritative) NAKs the unicast RENEW (to
    ciaddr) and the INIT-REBOOT (to 255.255.255.255 at the client's MAC)
    and is silent for the REBIND. dhcpsuite follows dhcpd.
    """
    sent = lab.run(lambda t: [
        t.unicast(REQUEST, mac(4, 1), 0x0401, OUTSIDE, options=[PRL]),
        t.broadcast_from(REQUEST, mac(4, 2), 0x0402, OUTSIDE, options=[PRL]),
        t.direct(REQUEST, mac(4, 3), 0x0403, options=[PRL, (50, packed(OUTSIDE))]),
    ], [0x0401, 0x0402, 0x0403], answered=False)
    assert {r.xid for r in sent["dhcpd"]} == {0x0403} and {r.xid for r in sent["kea"]} == {0x0401, 0x0403}
    assert sent["dhcpd"][0].broadcast and 56 in sent["dhcpd"][0].options
    for name in (*PEERS, "dhcpsuite"):
        by_xid = {reply.xid: reply for reply in sent[name]}
        assert len(by_xid) == len(sent[name]), sent[name]
        assert 0x0402 not in by_xid, f"{name} answered a REBIND for another network: {by_xid[0x0402]}"
        nak = by_xid.get(0x0403)
        assert nak is not None and nak.message_type == NAK, f"{name}: no NAK for a wrong-network INIT-REBOOT"
        assert nak.ip_dst == "255.255.255.255" and nak.yiaddr == "0.0.0.0"
    assert {r.xid for r in sent["dhcpsuite"]} == {0x0403}


# ---------------------------------------------------------------------------
# Items 2 and 8: a RENEW/REBIND with no binding; ciaddr in the ACK

@pytest.mark.parametrize("variant", [AUTHORITATIVE, NON_AUTHORITATIVE])
def test_renew_of_a_free_pool_address_recreates_the_binding(lab, variant):
    """
    Empty database: a RENEW (unicast from 10.60.0.150) and a REBIND
    (broadcast from 10.60.0.151) for free addresses of our pool. Kea and
    dhcpd both ACK with the same address and ciaddr copied, unicast to
    ciaddr:68, authoritative or not — the binding is re-created, so a
    server that lost its database (or replaced another) does not renumber
    every client at T1. dhcpsuite must do the same (items 2 and 8).
    """
    sent = lab.run(lambda t: [
        t.unicast(REQUEST, mac(5, 1), 0x0501, FREE_RENEW, options=[PRL]),
        t.broadcast_from(REQUEST, mac(5, 2), 0x0502, FREE_REBIND, options=[PRL]),
    ], [0x0501, 0x0502], variant=variant, expect=2)
    for xid, address in ((0x0501, FREE_RENEW), (0x0502, FREE_REBIND)):
        acks = {}
        for name in (*PEERS, "dhcpsuite"):
            reply = [r for r in sent[name] if r.xid == xid]
            assert len(reply) == 1 and reply[0].message_type == ACK, f"{name} {address}: {sent[name]}"
            acks[name] = reply[0]
        agree(acks, "ip_dst", "dport", "ciaddr", "yiaddr", "options")
        assert (acks["dhcpsuite"].yiaddr, acks["dhcpsuite"].ciaddr, acks["dhcpsuite"].ip_dst) == (
            address, address, address)
        options_equal(acks["dhcpsuite"], CONFIGURED)


@pytest.mark.parametrize("variant", [AUTHORITATIVE, NON_AUTHORITATIVE])
def test_init_reboot_for_a_free_pool_address_is_acked(lab, variant):
    """
    Empty database: a client reboots (INIT-REBOOT: requested address
    10.60.0.160, no server identifier, ciaddr 0). The peers disagree: dhcpd
    ACKs it (re-creating the binding), authoritative or not; Kea NAKs it
    when authoritative and stays silent when not. dhcpsuite follows dhcpd,
    for the reason of item 2: after a lost database or a server change a
    rebooting client keeps its address instead of being renumbered.
    """
    sent = lab.run(lambda t: [t.direct(REQUEST, mac(5, 3), 0x0503, options=[PRL, (50, packed(NET.address(160)))])],
                   [0x0503], variant=variant, answered=False)
    if variant == AUTHORITATIVE:
        only(sent, "kea", NAK)
    else:
        silent(sent, "kea")
    acks = {name: only(sent, name, ACK) for name in ("dhcpd", "dhcpsuite")}
    agree(acks, "eth_dst", "ip_dst", "dport", "ciaddr", "yiaddr", "options")
    assert acks["dhcpsuite"].yiaddr == NET.address(160)


def test_ack_to_renew_carries_ciaddr(lab):
    """
    A client bound by DORA renews (unicast REQUEST, ciaddr = its address):
    the ACK copies ciaddr (RFC 2131 Table 3 allows 0 or ciaddr; clients
    such as udhcpc and systemd-networkd check it). Kea and dhcpd copy it.
    """
    targets = lab.targets[AUTHORITATIVE]
    offered = bind(lab, mac(6), 0x0601)
    for name, address in offered.items():
        # The client now holds its address, so the server can ARP for it.
        targets[name].pair.client.run(["ip", "addr", "add", f"{address}/32", "dev", "cli0"])
    third = lab.run(lambda t: [t.unicast(REQUEST, mac(6), 0x0603, offered[t.peer.name], options=[PRL])], [0x0603])
    acks = {name: only(third, name, ACK) for name in (*PEERS, "dhcpsuite")}
    for name, ack in acks.items():
        assert ack.ciaddr == ack.yiaddr == ack.ip_dst == offered[name], f"{name}: {ack}"
    agree(acks, "dport", "options")


# ---------------------------------------------------------------------------
# Item 3: relayed INFORM; item 4: option 82 without giaddr

def test_relayed_inform_is_answered_to_ciaddr(lab):
    """
    An INFORM from 10.60.0.3 that reached us through a relay (giaddr set)
    is answered straight to ciaddr:68 (RFC 2131 §4.3.5, §3.4): a relay
    forwards a reply to yiaddr, which is 0 for an INFORM, so a reply sent
    to the relay never reaches the client. Kea and dhcpd both send to
    ciaddr:68 (Kea clears giaddr and hops in the reply, dhcpd keeps them);
    neither sends lease times. dhcpsuite must send it to ciaddr:68 too.
    """
    sent = lab.run(lambda t: [t.relayed(INFORM, mac(7), 0x0701, ciaddr=INFORM_CLIENT, options=[PRL])], [0x0701])
    acks = {name: only(sent, name, ACK) for name in (*PEERS, "dhcpsuite")}
    assert acks["kea"].giaddr == "0.0.0.0" and acks["dhcpd"].giaddr == NET.relay
    for name, reply in acks.items():
        assert not {51, 58, 59} & set(reply.options), f"{name} sent lease times to an INFORM: {reply}"
        assert reply.options[3] == CONFIGURED[3] and reply.options[6] == CONFIGURED[6], name
    agree(acks, "ip_dst", "dport", "ciaddr", "yiaddr")
    ack = acks["dhcpsuite"]
    assert (ack.ip_dst, ack.dport, ack.ciaddr, ack.yiaddr) == (INFORM_CLIENT, 68, INFORM_CLIENT, "0.0.0.0")


def test_option_82_is_echoed_without_giaddr(lab):
    """
    A DISCOVER broadcast by the client with option 82 but giaddr 0 (a
    layer-2 DHCP-snooping switch inserted it): RFC 3046 §2.2 says the
    server SHALL echo it in all replies, and the switch strips it on the
    way back. Kea and dhcpd echo it; dhcpsuite must too.
    """
    sent = lab.run(lambda t: [t.direct(DISCOVER, mac(8), 0x0801, options=[PRL, AGENT_INFO])], [0x0801])
    offers = {name: only(sent, name, OFFER) for name in (*PEERS, "dhcpsuite")}
    agree(offers, "eth_dst", "dport", "giaddr", "options")
    assert all(reply.ip_dst == reply.yiaddr for reply in offers.values()), offers
    options_equal(offers["dhcpsuite"], {**CONFIGURED, 82: AGENT_INFO[1]})


# ---------------------------------------------------------------------------
# Item 5: reply size

def large_kept(reply: Reply) -> list[int]:
    return [code for code, text in NET.large.items() if reply.options.get(code) == text.encode()]


def test_reply_without_option_57_fits_576_bytes(lab):
    """
    A DISCOVER asking (option 55) for three 250-byte options, without
    option 57: the client has not said it takes more than 576 bytes of IP
    datagram (RFC 2131 §2, RFC 2132 §9.10), so the reply must fit 576, keep
    every basic option, and keep as many of the large ones as fit (one: the
    option area plus file and sname hold 500 bytes).

    Measured: dhcpd sends exactly 548 bytes of DHCP (576 of IP), using
    option overload (52 = file) and keeping one large option. Kea ignores
    the limit and sends all three (1055 bytes of DHCP). dhcpsuite follows
    dhcpd.
    """
    sent = lab.run(lambda t: [t.direct(DISCOVER, mac(9), 0x0901, options=[PRL_LARGE])], [0x0901])
    offers = {name: only(sent, name, OFFER) for name in (*PEERS, "dhcpsuite")}
    assert offers["dhcpd"].udp_payload_size == 548 and 52 in offers["dhcpd"].options
    assert offers["kea"].udp_payload_size > 1000 and len(large_kept(offers["kea"])) == 3
    for name in ("dhcpd", "dhcpsuite"):
        reply = offers[name]
        assert reply.ip_total <= 576, f"{name}: {reply.ip_total} bytes of IP"
        options_equal(reply, CONFIGURED, 52, *NET.large)
        assert len(large_kept(reply)) >= 1, f"{name} dropped every large option: {reply}"


def test_option_57_of_576_keeps_what_fits_and_1500_keeps_all(lab):
    """
    The same request with option 57 = 576: as without option 57, the reply
    fits 576 bytes and keeps the large option that fits (dhcpd: 548 bytes,
    overload, one large option; Kea: ignores option 57, 1055 bytes). With
    option 57 = 1500 all three servers send all three large options.
    """
    sent = lab.run(lambda t: [
        t.direct(DISCOVER, mac(10, 1), 0x0A01, options=[PRL_LARGE, (57, (576).to_bytes(2, "big"))]),
        t.direct(DISCOVER, mac(10, 2), 0x0A02, options=[PRL_LARGE, (57, (1500).to_bytes(2, "big"))]),
    ], [0x0A01, 0x0A02], expect=2)
    for name in (*PEERS, "dhcpsuite"):
        assert sorted(r.xid for r in sent[name]) == [0x0A01, 0x0A02], f"{name}: {sent[name]}"
    small = {name: next(r for r in sent[name] if r.xid == 0x0A01) for name in NAMES}
    big = {name: next(r for r in sent[name] if r.xid == 0x0A02) for name in NAMES}
    assert len(large_kept(small["kea"])) == 3
    for name in ("dhcpd", "dhcpsuite"):
        assert small[name].ip_total <= 576, f"{name}: {small[name].ip_total} bytes of IP"
        options_equal(small[name], CONFIGURED, 52, *NET.large)
        assert len(large_kept(small[name])) >= 1, f"{name} dropped every large option: {small[name]}"
    for name in (*PEERS, "dhcpsuite"):
        assert len(large_kept(big[name])) == 3 and big[name].ip_total <= 1500, f"{name}: {big[name]}"
    agree(big, "options")


# ---------------------------------------------------------------------------
# Item 6: robustness principle

def test_sloppy_but_meaningful_requests_are_answered(lab):
    """
    Four DISCOVERs a strict parser might drop: no END option in a
    zero-padded packet (RFC 2131 §4.1 requires END only when sname/file
    carry options), option 57 = 300 (below the 576 minimum: read as 576),
    an empty option 12 and an empty option 60 (ignored). RFC 1122 §1.2.2:
    be liberal in what you accept. Kea and dhcpd OFFER all four; dhcpsuite
    must too.
    """
    cases = {
        0x0B01: dict(options=[PRL], end=False),
        0x0B02: dict(options=[PRL, (57, (300).to_bytes(2, "big"))]),
        0x0B03: dict(options=[PRL, (12, b"")]),
        0x0B04: dict(options=[PRL, (60, b"")]),
    }
    sent = lab.run(lambda t: [t.direct(DISCOVER, mac(11, xid & 0xFF), xid, **kw) for xid, kw in cases.items()],
                   list(cases), expect=len(cases))
    for name in (*PEERS, "dhcpsuite"):
        by_xid = {r.xid: r for r in sent[name]}
        assert sorted(by_xid) == sorted(cases), f"{name} answered only {sorted(map(hex, by_xid))}"
        for xid, reply in by_xid.items():
            assert reply.message_type == OFFER, f"{name} {xid:#x}: {reply}"
            options_equal(reply, CONFIGURED)


# ---------------------------------------------------------------------------
# Item 7: no usable client identity

def test_hlen_zero_without_client_id_is_dropped_and_counted(lab):
    """
    A DISCOVER with hlen 0, an all-zero chaddr and no option 61 names no
    client: two such clients would share one binding, and an L2 reply would
    go to MAC 00:00:00:00:00:00. Kea drops it; dhcpd OFFERs (an Ethernet
    broadcast, hlen 0). dhcpsuite drops it as Kea does, counted as
    C{drop:no-client-identity}.
    """
    target = lab.targets[AUTHORITATIVE]["dhcpsuite"]
    before = server_counters(target).get("drop:no-client-identity", 0)
    sent = lab.run(lambda t: [frame(bootp(DISCOVER, bytes(6), 0x0C01, hlen=0, options=[PRL]), mac(12))],
                   [0x0C01], answered=False)
    silent(sent, "kea")
    offer = only(sent, "dhcpd", OFFER)
    assert offer.hlen == 0 and offer.eth_dst == b"\xff" * 6
    silent(sent, "dhcpsuite")
    assert server_counters(target).get("drop:no-client-identity", 0) == before + 1


# ---------------------------------------------------------------------------
# Hostile input: everyone stays up, dhcpsuite drops and counts

def test_hostile_packets_leave_every_server_serving(lab):
    """
    A truncated packet (100 bytes), an option whose length runs past the
    end, and a relayed DISCOVER with hops 16. No server answers the first
    two (all three drop them; dhcpsuite counts each by reason); hops 16 is
    the RFC 1542 limit, not past it, and all three answer it. Afterwards
    every server is still running and OFFERs to a new client.
    """
    target = lab.targets[AUTHORITATIVE]["dhcpsuite"]
    before = server_counters(target)
    truncated = bootp(DISCOVER, mac(13, 1), 0x0D01)[:100]
    overrun = bootp(DISCOVER, mac(13, 2), 0x0D02, end=False, pad_to=0) + bytes([12, 200]) + b"host"
    sent = lab.run(lambda t: [
        frame(truncated, mac(13, 1)),
        frame(overrun, mac(13, 2)),
        t.relayed(DISCOVER, mac(13, 3), 0x0D03, hops=16, options=[PRL]),
    ], [0x0D01, 0x0D02, 0x0D03], answered=False)
    answered = {name: sorted((r.xid, r.message_type) for r in sent[name]) for name in (*PEERS, "dhcpsuite")}
    assert answered == {
        "kea": [(0x0D02, OFFER), (0x0D03, OFFER)],
        "dhcpd": [(0x0D03, OFFER)],
        "dhcpsuite": [(0x0D03, OFFER)],
    }, sent
    after = server_counters(target)
    for reason in ("drop:truncated", "drop:option-overrun"):
        assert after.get(reason, 0) == before.get(reason, 0) + 1, (reason, before, after)

    again = lab.run(lambda t: [t.direct(DISCOVER, mac(13, 4), 0x0D04, options=[PRL])], [0x0D04])
    for name in NAMES:
        only(again, name, OFFER)
    for peer in lab.peers():
        assert peer.alive(), f"{peer.name} exited: {peer.log()}"


# ---------------------------------------------------------------------------
# Common requests: the three agree (or a peer's difference is recorded)

def test_common_requests_agree(lab):
    """
    Five everyday requests in one go: a DISCOVER with the broadcast bit
    (OFFER broadcast, flag kept); a DISCOVER asking for a free pool address
    (offered that address); one asking for an address outside the pool
    (ignored: the pool's next free address); one with a client identifier
    (echoed, RFC 6842); and a direct INFORM from 10.60.0.3 (ACK to
    ciaddr:68, no lease times). Kea and dhcpsuite agree on the first four,
    dhcpd too except that it does not echo option 61. To the INFORM, dhcpd
    and dhcpsuite send the subnet mask asked for in option 55; Kea leaves
    option 1 out.
    """
    requests = {
        0x1401: lambda t: t.direct(DISCOVER, mac(20), 0x1401, broadcast=True, options=[PRL]),
        0x1501: lambda t: t.direct(DISCOVER, mac(21), 0x1501, options=[PRL, (50, packed(NET.address(170)))]),
        0x1601: lambda t: t.direct(DISCOVER, mac(22), 0x1601, options=[PRL, (50, packed(NET.address(250)))]),
        0x1701: lambda t: t.direct(DISCOVER, mac(23), 0x1701, options=[PRL, (61, b"\x01" + mac(23))]),
        0x1901: lambda t: t.unicast(INFORM, mac(25), 0x1901, INFORM_CLIENT, options=[PRL]),
    }
    sent = lab.run(lambda t: [build(t) for build in requests.values()], list(requests), expect=len(requests))
    replies = {}
    for name in (*PEERS, "dhcpsuite"):
        replies[name] = {r.xid: r for r in sent[name]}
        assert sorted(replies[name]) == sorted(requests), f"{name}: {sent[name]}"
    assert 61 not in replies["dhcpd"][0x1701].options
    assert replies["kea"][0x1701].options[61] == b"\x01" + mac(23)
    assert 1 not in replies["kea"][0x1901].options and 1 in replies["dhcpd"][0x1901].options
    differing = {0x1701: "dhcpd", 0x1901: "kea"}
    for xid in requests:
        among = {name: replies[name][xid] for name in NAMES}
        agree(among, "dport", "flags", "ciaddr")
        for name, reply in among.items():
            # Which free address each server picks depends on what the
            # earlier scenarios left behind; where it goes is compared.
            wanted = {0x1401: "255.255.255.255", 0x1901: INFORM_CLIENT}.get(xid, reply.yiaddr)
            assert reply.ip_dst == wanted, f"{name}: {reply}"
        among.pop(differing.get(xid, ""), None)
        agree(among, "options")
    ours = replies["dhcpsuite"]
    assert ours[0x1401].ip_dst == "255.255.255.255" and ours[0x1401].broadcast
    assert ours[0x1501].yiaddr == NET.address(170)
    assert ipaddress.IPv4Address(NET.pool[0]) <= ipaddress.IPv4Address(ours[0x1601].yiaddr) <= ipaddress.IPv4Address(
        NET.pool[1])
    assert ours[0x1701].options[61] == b"\x01" + mac(23)
    assert (ours[0x1901].message_type, ours[0x1901].ip_dst, ours[0x1901].dport) == (ACK, INFORM_CLIENT, 68)


def test_requests_that_are_not_for_us_or_not_free(lab):
    """
    A REQUEST (SELECTING) naming another server (10.60.0.9) in option 54 is
    that client's choice of the other server: dhcpsuite and Kea stay silent.
    dhcpd ACKs it (a free address, authoritative), taking the client from
    the server it chose. A REBIND from a client for an address bound to
    another client: all three NAK it; dhcpsuite and dhcpd broadcast the NAK
    (dhcpd also sets the broadcast bit and adds a message, option 56), Kea
    sends it to ciaddr.
    """
    bound = bind(lab, mac(28), 0x1C01)
    sent = lab.run(lambda t: [
        t.direct(REQUEST, mac(24), 0x1801, options=[PRL, (54, packed("10.60.0.9")), (50, packed(NET.address(171)))]),
        t.broadcast_from(REQUEST, mac(28, 1), 0x1C03, bound[t.peer.name], options=[PRL]),
    ], [0x1801, 0x1C03], answered=False)
    answered = {name: sorted((r.xid, r.message_type) for r in sent[name]) for name in (*PEERS, "dhcpsuite")}
    assert answered["dhcpd"] == [(0x1801, ACK), (0x1C03, NAK)], sent["dhcpd"]
    assert answered["kea"] == [(0x1C03, NAK)], sent["kea"]
    assert next(r for r in sent["kea"] if r.xid == 0x1C03).ip_dst == bound["kea"]
    assert answered["dhcpsuite"] == [(0x1C03, NAK)], sent["dhcpsuite"]
    assert sent["dhcpsuite"][0].ip_dst == "255.255.255.255" and sent["dhcpsuite"][0].yiaddr == "0.0.0.0"


def test_declined_address_is_not_offered_again(lab):
    """
    A client DECLINEs the address it was ACKed (its ARP probe found it in
    use); another client then DISCOVERs asking for exactly that address.
    All three offer a different address: the declined one is quarantined
    (RFC 2131 §4.3.3 "MUST mark the network address as not available").
    """
    bound = bind(lab, mac(30), 0x1E01)
    sent = lab.run(lambda t: [
        t.direct(DECLINE, mac(30), 0x1E03, options=[(50, packed(bound[t.peer.name])), (54, packed(NET.server))]),
        t.direct(DISCOVER, mac(30, 1), 0x1E04, options=[PRL, (50, packed(bound[t.peer.name]))]),
    ], [0x1E03, 0x1E04])
    for name in (*PEERS, "dhcpsuite"):
        offer = only(sent, name, OFFER)
        assert offer.xid == 0x1E04 and offer.yiaddr != bound[name], f"{name} re-offered a declined address: {offer}"


# ---------------------------------------------------------------------------
# Where dhcpsuite is already more faithful than a peer: kept

def test_retransmitted_discover_gets_the_same_address(lab):
    """
    A client whose OFFER was lost sends DISCOVER again (new xid): it is
    offered the same address, so a slow or lossy link does not burn through
    the pool. dhcpd does the same; Kea 2.2 keeps no record of an offer and
    its iterative allocator offers the next address each time.
    """
    first = lab.run(lambda t: [t.direct(DISCOVER, mac(14), 0x0E01, options=[PRL])], [0x0E01])
    second = lab.run(lambda t: [t.direct(DISCOVER, mac(14), 0x0E02, options=[PRL])], [0x0E02])
    pairs = {name: (only(first, name, OFFER).yiaddr, only(second, name, OFFER).yiaddr)
             for name in (*PEERS, "dhcpsuite")}
    assert pairs["dhcpd"][0] == pairs["dhcpd"][1], pairs
    assert pairs["kea"][0] != pairs["kea"][1], pairs
    assert pairs["dhcpsuite"][0] == pairs["dhcpsuite"][1], pairs


def test_released_address_is_offered_again_to_its_client(lab):
    """
    DORA, RELEASE, then DISCOVER from the same client: it is offered the
    address it released (a client that comes back keeps its address, as
    RFC 2131 §4.3.1 prefers). dhcpd does the same; Kea offers another
    address.
    """
    offered = bind(lab, mac(15), 0x0F01)
    # The RELEASE draws no reply; each server handles the two in order.
    third = lab.run(lambda t: [
        t.unicast(RELEASE, mac(15), 0x0F03, offered[t.peer.name], options=[(54, packed(NET.server))]),
        t.direct(DISCOVER, mac(15), 0x0F04, options=[PRL]),
    ], [0x0F03, 0x0F04])
    again = {name: only(third, name, OFFER).yiaddr for name in (*PEERS, "dhcpsuite")}
    assert again["dhcpd"] == offered["dhcpd"], (offered, again)
    assert again["kea"] != offered["kea"], (offered, again)
    assert again["dhcpsuite"] == offered["dhcpsuite"], (offered, again)


def test_relayed_nak_sets_the_broadcast_bit(lab):
    """
    A relayed INIT-REBOOT for an address of our subnet outside the pool
    (10.60.0.250): NAK, to the relay, with the broadcast bit set (RFC 2131
    §4.3.2: "the server MUST set the broadcast bit in the DHCPNAK", so the
    relay broadcasts it to a client that may have no usable address).
    Kea NAKs to the relay without the broadcast bit; dhcpd stays silent.
    """
    sent = lab.run(lambda t: [t.relayed(REQUEST, mac(16), 0x1001, options=[PRL, (50, packed(NET.address(250)))])],
                   [0x1001], answered=False)
    silent(sent, "dhcpd")
    assert not only(sent, "kea", NAK).broadcast
    nak = only(sent, "dhcpsuite", NAK)
    assert nak.broadcast and (nak.ip_dst, nak.dport, nak.giaddr) == (NET.relay, 67, NET.relay), nak
