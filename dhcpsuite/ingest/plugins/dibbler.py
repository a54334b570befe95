"""
dhcpsuite-dibbler-plugin: run by dibbler-client (C{script "THIS"}) on each
event; sends the lease as a v6 C{PLUGIN_MSG}, exactly as RDK-B's
C{dhcpmgr_dibbler_plugin} fills it (reference section 4.2), and exits 0.

Events C{add}/C{update} send a valid lease, C{del}/C{delete}/C{expire} an
expired one; any other event sends nothing. Like the current RDK-B plugin,
an add/update whose prefix has both lifetimes 0 is not sent (dibbler
reports such a prefix just before it deletes it).

Environment: as for the udhcpc plugin (C{DHCPSUITE_INGEST_ADDRESS},
C{DHCPSUITE_INGEST_LAYOUT}).
"""

from __future__ import annotations

import sys

from dhcpsuite.ingest import layout as _layout
from dhcpsuite.ingest.plugins import common

PROGRAM = "dhcpsuite-dibbler-plugin"
VALID_EVENTS = ("add", "update")
EXPIRED_EVENTS = ("del", "delete", "expire")
# The plugin copies these with sizeof - 1, so they always end in a NUL.
_NAMESERVER_MAX = 127
_VENDOR_MAX = 255


def _number(env, name: str) -> int:
    return common.u32(common.atoi(env.get(name)))


def _cut(text: str, size: int) -> bytes:
    return text.encode("utf-8", "surrogateescape")[:size]


def build_fields(event: str, env, has_mape: bool = True) -> dict | None:
    if event not in VALID_EVENTS and event not in EXPIRED_EVENTS:
        return None
    fields = {"is_expired": 0 if event in VALID_EVENTS else 1, "ifname": env.get("IFACE", "")}
    if env.get("ADDR1") is not None:
        fields.update(
            na_assigned=1, na_address=env["ADDR1"],
            na_iaid=_number(env, "ADDR1IAID"), na_preferred=_number(env, "ADDR1PREF"),
            na_valid=_number(env, "ADDR1VALID"), na_t1=_number(env, "ADDR1T1"), na_t2=_number(env, "ADDR1T2"),
        )
    if env.get("PREFIX1") is not None:
        fields.update(
            pd_assigned=1, pd_prefix=env["PREFIX1"], pd_length=_number(env, "PREFIX1LEN"),
            pd_iaid=_number(env, "PREFIX1IAID"), pd_preferred=_number(env, "PREFIX1PREF"),
            pd_valid=_number(env, "PREFIX1VALID"), pd_t1=_number(env, "PREFIX1T1"), pd_t2=_number(env, "PREFIX1T2"),
        )
    if env.get("SRV_OPTION23") is not None:
        servers = [token for token in env["SRV_OPTION23"].split(" ") if token]
        fields.update(
            dns_assigned=1,
            dns_server=_cut(servers[0], _NAMESERVER_MAX) if servers else b"",
            dns_server1=_cut(servers[1], _NAMESERVER_MAX) if len(servers) > 1 else b"",
        )
    fields["domain_name"] = env.get("SRV_OPTION24", "")
    fields["ntp_server"] = env.get("SRV_OPTION31", "")
    fields["aftr"] = env.get("SRV_OPTION64", "")
    if env.get("SRV_OPTION95") is not None:
        fields.update(mapt_assigned=1, mapt=env["SRV_OPTION95"])
    if has_mape and env.get("SRV_OPTION94") is not None:
        fields.update(mape_assigned=1, mape=env["SRV_OPTION94"])
    if env.get("SRV_OPTION17") is not None:
        vendor = env["SRV_OPTION17"].encode("utf-8", "surrogateescape")
        fields.update(vendor_assigned=1, vendor_data=vendor[:_VENDOR_MAX], vendor_length=common.u32(len(vendor)))
    return fields


def build_message(event: str, env) -> bytes | None:
    layout = common.chosen_layout(env)
    fields = build_fields(event, env, layout.has_mape)
    if fields is None:
        return None
    if (event in VALID_EVENTS and fields.get("pd_assigned")
            and fields.get("pd_preferred") == 0 and fields.get("pd_valid") == 0):
        return None
    return _layout.encode(layout, _layout.VERSION_V6, fields["ifname"], fields)


def main(argv=None, env=None, push=None) -> int:
    return common.run(PROGRAM, build_message, argv, env, push)


if __name__ == "__main__":
    sys.exit(main())
