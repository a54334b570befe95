"""
The client's blocking host I/O, without Twisted or zope: the DHCP sockets
(L{rawsocket}), links from C{/sys/class/net} (L{sysfs}), the boottime clock
(L{boottime}) and the persisted lease (L{persist}). Both the early path and
the Twisted shell use them.
"""
