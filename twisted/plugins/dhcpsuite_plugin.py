"""
The twistd plugin: C{twistd -n dhcpsuite --config FILE}. Nothing but the name;
everything is built by L{dhcpsuite.tap.makeService}.
"""

from twisted.application.service import ServiceMaker

dhcpsuite = ServiceMaker(
    "dhcpsuite",
    "dhcpsuite.tap",
    "DHCPv4 server and client, RDK-B lease ingest and netlink reader",
    "dhcpsuite",
)
