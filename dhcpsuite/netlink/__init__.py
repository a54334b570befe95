"""
rtnetlink for dhcpsuite: a non-blocking reader of link, address and route
events with an interface table and readiness (L{reader}, L{events},
L{readiness}), and an interface configurator (L{configurator}).

pyroute2 is used only as a parser of the bytes our own sockets read.
"""
