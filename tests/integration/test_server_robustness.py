"""
Issue 12.6 against Kea: requests that are off in small ways (no END, an
empty option 12 or 60, option 57 below 576, a malformed option 121) are
answered, not dropped (RFC 1122 section 1.2.2). Kea 2.2 and dhcpsuite get
the same DISCOVERs.
"""

from __future__ import annotations

import json

import pytest

from dhcpsuite.dhcp4.packet import Message
from tests.integration.conftest import server_config
from tests.integration.test_hostile_packets import ANSWERED_CASES, valid
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair, udp_exchange, wait_udp_listening

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

OFFER = 2


def kea_config(tmp_path) -> dict:
    return {"Dhcp4": {
        "interfaces-config": {"interfaces": ["srv0"]},
        "lease-database": {"type": "memfile", "persist": False},
        "valid-lifetime": 2400,
        "subnet4": [{"subnet": "10.77.0.0/16", "pools": [{"pool": "10.77.0.100 - 10.77.0.199"}],
                     "option-data": [{"name": "routers", "data": "10.77.0.1"}]}],
        "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                     "output_options": [{"output": str(tmp_path / "kea.log")}]}],
    }}


def offers(pair: VethPair) -> dict[str, int | None]:
    """
    Each case sent once (broadcast flag set: the test socket does not own
    the offered address): the message type of the answer, or None.
    """
    header = valid()[:240]
    header[10] |= 0x80
    answered = {}
    for what, options, _ in ANSWERED_CASES:
        replies = udp_exchange(pair.client, bytes(header) + options, ("0.0.0.0", 68), ("255.255.255.255", 67),
                               timeout=3, device=pair.client_if)
        answered[what] = Message.from_bytes(replies[0][1]).message_type if replies else None
    return answered


def test_kea_and_dhcpsuite_answer_the_same_odd_requests(tmp_path, daemons):
    """
    Kea 2.2 answers every case with an OFFER; so do we. (Before, dhcpsuite
    dropped each one for the whole packet: missing-end or bad-option.)
    """
    require_root()
    programs = require_programs("kea-dhcp4", "ss")
    results = {}
    with VethPair(prefix="tkr") as pair:
        daemon = daemons.start(pair.server, server_config(tmp_path / "state", lease_store="memory"))
        results["dhcpsuite"] = offers(pair)
        daemon.stop()

        conf = tmp_path / "kea-dhcp4.conf"
        conf.write_text(json.dumps(kea_config(tmp_path)))
        env = {"KEA_PIDFILE_DIR": str(tmp_path), "KEA_LOCKFILE_DIR": str(tmp_path), "PATH": "/usr/sbin:/usr/bin"}
        kea = pair.server.spawn([programs["kea-dhcp4"], "-c", str(conf)], env=env)
        wait_udp_listening(pair.server, 67, kea)
        results["kea"] = offers(pair)
        pair.server.stop(kea)

    print(json.dumps(results, indent=1))
    assert results["kea"] == {what: OFFER for what, _, _ in ANSWERED_CASES}, results["kea"]
    assert results["dhcpsuite"] == results["kea"]
