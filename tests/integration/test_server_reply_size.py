"""
Issue 12.5, against ISC dhcpd: a DISCOVER without option 57 asking for more
options than 576 bytes hold. Both servers get the same subnet and the same
four 100-byte options, and the same DISCOVER; their OFFERs are compared.
"""

from __future__ import annotations

import pytest

from dhcpsuite.dhcp4.packet import Message
from tests.integration.conftest import server_config, subnet_config
from tests.integration.test_server import DISCOVER, dhcp_message
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair, udp_exchange, wait_udp_listening
from tests.unit.test_dhcp4_packet import overload_on_wire

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

LARGE = {code: bytes([code]) * 100 for code in (224, 225, 226, 227)}
PRL = bytes([1, 3, 6, *LARGE])

DHCPD_CONF = """\
authoritative;
default-lease-time 2400;
max-lease-time 2400;
{definitions}
subnet 10.77.0.0 netmask 255.255.0.0 {{
    range 10.77.0.100 10.77.0.199;
    option routers 10.77.0.1;
    option domain-name-servers 10.77.0.53;
{values}
}}
"""


def offer_from(pair: VethPair, xid: int) -> tuple[bytes, Message]:
    discover = bytearray(dhcp_message(DISCOVER, "02:00:00:00:12:05", xid, options=[(55, PRL)]))
    discover[10] |= 0x80  # broadcast: the test socket does not own the offered address
    replies = udp_exchange(pair.client, bytes(discover), ("0.0.0.0", 68), ("255.255.255.255", 67),
                           timeout=5, device=pair.client_if)
    [data] = [data for _, data in replies if data[4:8] == xid.to_bytes(4, "big")]
    return data, Message.from_bytes(data)


def start_ours(pair: VethPair, daemons, tmp_path):
    options = [{"code": code, "hex": value.hex()} for code, value in LARGE.items()]
    return daemons.start(pair.server, server_config(tmp_path / "state", subnet_config(option=options),
                                                    lease_store="memory"))


def start_dhcpd(pair: VethPair, dhcpd: str, tmp_path):
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(DHCPD_CONF.format(
        definitions="\n".join(f"option large{code} code {code} = string;" for code in LARGE),
        values="\n".join(f"    option large{code} {':'.join(f'{b:02x}' for b in value)};"
                         for code, value in LARGE.items()),
    ))
    leases = tmp_path / "dhcpd.leases"
    leases.write_text("")
    process = pair.server.spawn([dhcpd, "-4", "-f", "-q", "-cf", str(conf), "-lf", str(leases),
                                 "-pf", str(tmp_path / "dhcpd.pid"), pair.server_if])
    wait_udp_listening(pair.server, 67, process)
    return process


def test_reply_without_option_57_fits_576_like_dhcpd(tmp_path, daemons):
    """
    With no option 57, ISC dhcpd 4.4.3 limits its OFFER to 576 bytes (548
    of UDP payload) and moves options into the file field, then sname,
    saying so with option 52. We do the same. Measured: dhcpd sends 548
    bytes, overload 3, all four options, the fourth split in three pieces
    (66 bytes in the options field, 23 in file, 11 in sname, RFC 3396),
    option 52 last and no END in the options field. We send 493 bytes,
    overload 1, three options, each whole in one field (two in the
    options field, one in file); the fourth fits in no field whole and is
    dropped. Before, the OFFER carried all four in 700-odd bytes.

    Why whole options: busybox udhcpc reads only an option's first piece
    (see test_udhcpc_reads_every_option_we_fit).
    """
    require_root()
    programs = require_programs("dhcpd", "ss")
    results = {}
    with VethPair(prefix="trs") as pair:
        daemon = start_ours(pair, daemons, tmp_path)
        results["dhcpsuite"] = offer_from(pair, 0x125001)
        daemon.stop()
        dhcpd = start_dhcpd(pair, programs["dhcpd"], tmp_path)
        results["dhcpd"] = offer_from(pair, 0x125002)
        pair.server.stop(dhcpd)

    for name, (data, offer) in results.items():
        kept = sorted(code for code in LARGE if offer.options.get(code) == LARGE[code])
        print(f"{name}: {len(data)} bytes, overload {overload_on_wire(data)}, large options kept {kept}")
    ours, ours_offer = results["dhcpsuite"]
    theirs, theirs_offer = results["dhcpd"]
    assert len(ours) <= 548 and len(theirs) <= 548
    assert (overload_on_wire(theirs) or 0) & 1 and (overload_on_wire(ours) or 0) & 1
    ours_kept = [code for code in LARGE if ours_offer.options.get(code) == LARGE[code]]
    # In the order of the client's option 55, as many as fit whole.
    assert ours_kept == [224, 225, 226]
    assert ours_offer.options[3] == theirs_offer.options[3]
    # Our decoder reads dhcpd's reply whole, the split option and the
    # options field without END included.
    assert all(theirs_offer.options.get(code) == value for code, value in LARGE.items())


def test_udhcpc_reads_every_option_we_fit(tmp_path, daemons, clients):
    """
    busybox udhcpc 1.35, asking for the four options (-O), from each
    server. From ours it gets the three we kept, whole (the third from the
    file field). From dhcpd it gets the two in the options field, the
    split one cut to its first 66 bytes, not the one in file, and logs
    "bad packet, malformed option field".
    """
    require_root()
    programs = require_programs("dhcpd", "udhcpc", "ss")
    wanted = [arg for code in LARGE for arg in ("-O", str(code))]
    seen = {}
    with VethPair(prefix="tru") as pair:
        daemon = start_ours(pair, daemons, tmp_path)
        client = clients.udhcpc(pair, "-q", *wanted)
        index, _ = client.wait_event({"bound"})
        seen["dhcpsuite"] = client.environment(index)
        daemon.stop()
        dhcpd = start_dhcpd(pair, programs["dhcpd"], tmp_path)
        client = clients.udhcpc(pair, "-q", *wanted)
        index, _ = client.wait_event({"bound"})
        seen["dhcpd"] = client.environment(index)
        pair.server.stop(dhcpd)
    lengths = {name: {code: len(env.get(f"opt{code}", "")) // 2 for code in LARGE} for name, env in seen.items()}
    print(lengths)
    assert lengths["dhcpsuite"] == {224: 100, 225: 100, 226: 100, 227: 0}
    assert all(seen["dhcpsuite"][f"opt{code}"] == LARGE[code].hex() for code in (224, 225, 226))
    # The reference: what the same client makes of dhcpd's split.
    assert lengths["dhcpd"][227] < 100, lengths
