"""
dhcpsuite-udhcpc-plugin: run by busybox udhcpc (C{udhcpc -s THIS}) on each
event; sends the lease as a v4 C{PLUGIN_MSG}, exactly as RDK-B's
C{dhcpmgr_udhcpc_plugin} fills it (reference section 4.1), and exits 0.

Events C{bound}/C{renew} send a valid lease, C{leasefail}/C{deconfig} an
expired one; every other event (C{nak}, ...) sends nothing.

Environment: C{DHCPSUITE_INGEST_ADDRESS} (default C{tcp://127.0.0.1:50324};
C{ipc:///PATH} for the daemon's IPC socket),
C{DHCPSUITE_INGEST_LAYOUT} (default C{x86_64}).
"""

from __future__ import annotations

import sys

from dhcpsuite.ingest import layout as _layout
from dhcpsuite.ingest.plugins import common

PROGRAM = "dhcpsuite-udhcpc-plugin"
VALID_EVENTS = ("bound", "renew")
EXPIRED_EVENTS = ("leasefail", "deconfig")


def build_fields(event: str, env) -> dict | None:
    """
    @return: the v4 fields for C{event}, or L{None} for an event that sends
        nothing.
    """
    if event not in VALID_EVENTS and event not in EXPIRED_EVENTS:
        return None
    valid = event in VALID_EVENTS
    fields = {
        "ifname": env.get("interface", ""),
        "sip_server": env.get("sipsrv", ""),
        "static_routes": env.get("staticroutes", ""),
        "server_id": env.get("serverid", ""),
        "state": event,
        "address_assigned": 1 if valid else 0,
        "is_expired": 0 if valid else 1,
    }
    if not valid:
        return fields
    dns = env.get("dns", "").split(" ")
    dns = [token for token in dns if token]
    fields.update(
        address=env.get("ip", ""),
        netmask=env.get("subnet", ""),
        gateway=env.get("router", ""),
        dns_server=dns[0] if dns else "",
        dns_server1=dns[1] if len(dns) > 1 else "",
        lease_time=common.u32(common.atoi(env.get("lease"))),
        time_zone=env.get("timezone", ""),
        option67=env.get("bootfile", ""),
        tftp_server=env.get("siaddr", ""),
        hostname=env.get("hostname", ""),
        domain_name=env.get("domain", ""),
        upstream_rate=common.u32(common.atoi(env.get("upstreamrate"))),
        downstream_rate=common.u32(common.atoi(env.get("downstreamrate"))),
    )
    if env.get("renewaltime") is not None:
        fields["renewal_time"] = common.u32(common.atoi(env["renewaltime"]))
    else:
        fields["renewal_time"] = common.u32(common.hex_value(env.get("opt58")))
    if env.get("rebindingtime") is not None:
        fields["rebinding_time"] = common.u32(common.atoi(env["rebindingtime"]))
    else:
        fields["rebinding_time"] = common.u32(common.hex_value(env.get("opt59")))
    if env.get("timeoffset") is not None:
        fields.update(time_offset=common.i32(common.atoi(env["timeoffset"])), is_time_offset_assigned=1)
    if env.get("opt122") is not None:
        fields.update(option122=env["opt122"], assigned122=1)
    if env.get("opt125") is not None:
        fields.update(option125=env["opt125"], assigned125=1)
    return fields


def build_message(event: str, env) -> bytes | None:
    fields = build_fields(event, env)
    if fields is None:
        return None
    layout = common.chosen_layout(env)
    if not layout.has_v4_extras:
        for name in ("option67", "tftp_server", "hostname", "domain_name"):
            fields.pop(name, None)
    return _layout.encode(layout, _layout.VERSION_V4, fields["ifname"], fields)


def main(argv=None, env=None, push=None) -> int:
    return common.run(PROGRAM, build_message, argv, env, push)


if __name__ == "__main__":
    sys.exit(main())
