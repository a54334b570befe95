"""
dhcpsuite: DHCP for a Linux router or host, in one Twisted reactor.

A DHCPv4 server, a DHCPv4 client for many interfaces, a lease-ingest endpoint
compatible with the RDK-B DHCP Manager's plugins, and an rtnetlink reader,
wired through the seams in L{dhcpsuite.interfaces}.
"""

__version__ = "0.1.0"
