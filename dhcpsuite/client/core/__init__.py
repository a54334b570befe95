"""
The client's pure core: the state machine (L{machine}), the lease it holds
(L{lease}), its timing rules (L{schedule}), the checks on names a server
sends (L{dnsnames}), what applying a lease asks of the configurator
(L{lease_calls}) and the driver both shells share (L{driver}). Nothing here
touches a socket, a clock or Twisted.
"""
