"""
dhcpsuite's DHCPv4 client: a pure state machine (L{machine}) in a thin
Twisted shell (L{agent}), one agent per interface (L{manager}), run as a
service (L{service}). See docs/client.md.
"""
