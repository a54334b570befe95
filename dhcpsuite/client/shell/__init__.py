"""
The client's Twisted shell: one agent per interface (L{agent}) under the
manager (L{manager}) run as a service (L{service}), with hook processes
(L{hooks}), ARP probing (L{arp}), socket readers (L{reader}) and
C{CLOCK_BOOTTIME} timers on the reactor (L{deadline_timers}).
"""
