# -*- test-case-name: tests.unit.test_interfaces -*-
"""
Every seam of dhcpsuite, in one place.

Each component depends on these interfaces, never on another component's
concrete class, so that a test can pass a fake (checked with ``verifyObject``)
and a deployment can swap an implementation (SQLite for PostgreSQL, the netlink
configurator for a recording one) without touching the code that uses it.

Methods are declared without ``self``, as zope.interface wants.
"""

from zope.interface import Attribute, Interface


class ILeaseStore(Interface):
    """
    The DHCPv4 server's bindings.

    Reads and mutations are synchronous and act on an in-memory index, so the
    server's decisions never wait for a disk; durability is asked for
    separately with L{committed}, which the server waits on before it sends an
    ACK (RFC 2131 section 3.1, step 4).
    """

    def get(address):
        """
        @param address: an L{ipaddress.IPv4Address}.
        @return: the L{dhcpsuite.leases.lease.Lease} for C{address}, or L{None}.
        """

    def __contains__(address):
        """
        Is there a lease (in any state) for C{address}? As C{get(address)
        is not None}, without making the lease.
        """

    def find_by_client(client_key):
        """
        @param client_key: the client's identity (L{bytes}: option 61, or
            htype followed by chaddr when the client sent none).
        @return: a L{list} of the leases (any state) recorded for that client.
        """

    def put(lease, durable=True):
        """
        Record C{lease}, replacing any lease for the same address. Visible to
        L{get} at once. With C{durable} false (an offer held in memory) it is
        never written to disk.
        """

    def remove(address):
        """
        Forget the lease for C{address} altogether (an operator's revoke).
        """

    def leases():
        """
        @return: an iterator over every lease held.
        """

    def states():
        """
        @return: an iterator over C{(address as int, state, expires)} of
            every lease held: what a summary kept beside the store (per-pool
            usage) needs to start, without making a lease of each.
        """

    def holders():
        """
        @return: an iterator over C{(address as int, state, client key,
            MAC)} of every lease held: what an index by client kept beside
            the store needs to start, without making a lease of each.
        """

    def addresses():
        """
        @return: the address of every lease held, as integers, in an
            L{array.array} of C{"I"} (a sweep's copy: 4 bytes a lease).
        """

    def add_observer(observer):
        """
        Call C{observer(old, new)} after every change to the index, whoever
        made it (the server's decisions, an operator's revoke): C{old} is the
        lease the address had before and C{new} the one it has now, either
        L{None}. Synchronous, in the reactor thread, so a summary kept
        beside the store (per-pool usage) stays exact without scanning it.
        An observer must not raise and must not change the store.
        """

    def remove_observer(observer):
        """
        Stop calling C{observer}.
        """

    def committed():
        """
        @return: a L{Deferred} that fires once every earlier durable L{put}
            and L{remove} is on stable storage, or fails if it cannot be.
        """

    def close():
        """
        Flush and release the store.

        @return: a L{Deferred} that fires when done.
        """


class ILeaseListener(Interface):
    """
    Told of every change to the lease registry: the per-interface record of
    the leases this host holds (WAN side), whether our own DHCP client got them
    or they were ingested from an external client's plugin.
    Nobody polls the registry; they listen.
    """

    def lease_changed(change):
        """
        @param change: a L{dhcpsuite.leases.registry.LeaseChange}, which carries
            the interface name, the address family, the old and new lease
            records (either may be L{None}) and the cause.
        """


class IInterfaceConfigurator(Interface):
    """
    Applies addresses, routes, neighbour entries and MTUs to the kernel.
    Every method returns a L{Deferred}; none blocks the reactor. Adding what is
    already there succeeds (idempotent). Failures carry the errno and a
    readable message (L{dhcpsuite.netlink.configurator.ConfiguratorError}).
    """

    def add_address(ifname, interface, broadcast=None, valid_lifetime=None, preferred_lifetime=None):
        """
        @param interface: an L{ipaddress.IPv4Interface} or
            L{ipaddress.IPv6Interface} (address with prefix length).
        @param broadcast: IPv4 only; L{None} means the subnet's broadcast
            address (as C{ip addr add ... brd +}).
        @param valid_lifetime: seconds, or L{None} for forever.
        @param preferred_lifetime: seconds; L{None} means C{valid_lifetime}.

        Adding an address that is there updates its lifetimes (a renewal).
        """

    def remove_address(ifname, interface):
        """
        Remove an address; removing an absent one succeeds.
        """

    def add_route(destination, gateway=None, ifname=None, metric=None, table=None, source=None):
        """
        @param destination: an L{ipaddress.IPv4Network} / L{ipaddress.IPv6Network}
            (C{0.0.0.0/0} for a default route).
        @param table: the routing table number (L{None}: main).
        @param source: the preferred source address.

        Creates the route or replaces the one with the same destination,
        metric and table.
        """

    def remove_route(destination, gateway=None, ifname=None, metric=None, table=None):
        """
        Remove a route; removing an absent one succeeds.
        """

    def add_neighbour(ifname, address, lladdr):
        """
        Add or replace a neighbour (ARP) entry: C{address} reached at link
        layer address C{lladdr} (L{bytes}) on C{ifname}.
        """

    def set_mtu(ifname, mtu):
        """
        Set the link MTU.
        """


class INetlinkListener(Interface):
    """
    Receives typed, immutable link, address and route events from the netlink
    reader (L{dhcpsuite.netlink.events}). A listener that raises is logged and
    the reader carries on.

    Registered with C{reader.add_listener(listener, replay=True)}, it is first
    given the reader's current table as C{LinkAdded} / C{AddressAdded} /
    C{RouteAdded} events, then every change, so applying the events in order
    always rebuilds the kernel's state (after an overrun, the resync's
    differences arrive as ordinary events). Ignore event types you do not
    know (C{Overrun}, C{Resynced} and C{Synced} are informational).
    """

    def netlink_event(event):
        """
        @param event: one of the event types in L{dhcpsuite.netlink.events}:
            C{LinkAdded}, C{LinkChanged}, C{LinkRemoved}, C{AddressAdded},
            C{AddressChanged}, C{AddressRemoved}, C{RouteAdded},
            C{RouteRemoved}, C{Overrun}, C{Resynced}, C{Synced}.
        """


class IPluginMessageHandler(Interface):
    """
    Receives decoded lease messages from the lease-ingest service (the roles
    of RDK-B's C{DHCPMgr_AddDhcpv4Lease} / C{DHCPMgr_AddDhcpv6Lease}).
    """

    def handle_message(message):
        """
        @param message: a decoded v4 or v6 plugin message
            (L{dhcpsuite.ingest.pluginmsg}).
        @return: a short L{str} naming the outcome (e.g. C{"updated"},
            C{"renewed"}, C{"deleted"}, C{"ignored"}, C{"stale"}), used for
            counting.
        """


class IPacketSink(Interface):
    """
    Where the DHCPv4 server's protocol sends a reply: given the bytes and a
    L{dhcpsuite.server.destination.Destination}, get them onto the wire.
    """

    def send_reply(data, destination, source=None):
        """
        @param data: the encoded reply.
        @param destination: where it goes (IP, port, and for an L2 unicast the
            client's hardware address).
        @param source: our IPv4 address for the reply (its server
            identifier), or L{None}.
        """


class ILinkSender(Interface):
    """
    Puts a server reply on one interface's link as a whole frame (a packet
    socket), so that reaching a client without an address needs no entry
    in the kernel's neighbour table.
    """

    def send(payload, source, destination, port, mac):
        """
        @param payload: the encoded DHCP message.
        @param source: our IPv4 address (the server identifier).
        @param destination: the IPv4 destination address.
        @param port: the UDP destination port (the source port is 67).
        @param mac: the destination link-layer address (6 bytes; all ones
            for a broadcast).
        @raise OSError: the frame could not be handed to the interface.
        """

    def close():
        """
        Release the socket.
        """


class IClock(Interface):
    """
    Wall-clock and monotonic time together, so lease deadlines can be kept on
    a clock that does not jump when the wall clock is set.
    """

    def wall():
        """
        @return: seconds since the epoch (L{float}); may jump.
        """

    def monotonic():
        """
        @return: seconds on a clock that never jumps and counts suspend
            (C{CLOCK_BOOTTIME} on Linux).
        """


class IComponentHealth(Interface):
    """
    A component that can say whether it is working, for the control API.
    """

    name = Attribute("A short, stable name of the component (L{str}).")

    def health():
        """
        @return: a L{dict} that is JSON-serialisable, with at least
            C{{"ok": bool}}.
        """


class IReadinessListener(Interface):
    """
    Told when a watched interface becomes ready (admin up, carrier, and the
    IPv4 address asked for) or stops being ready, at most once per real
    (optionally debounced) change; and told C{ready=True} again when the
    addresses that make it ready change while it stays ready (renumbering)
    (L{dhcpsuite.netlink.readiness.ReadinessTracker}).
    """

    def readiness_changed(ifname, ready):
        """
        @param ifname: the interface name.
        @param ready: L{True} when it became ready, L{False} when it stopped.
        """


class INetlinkSystem(Interface):
    """
    rtnetlink sockets as file descriptors: how the netlink reader and
    configurator reach the kernel (L{dhcpsuite.netlink.system.RealNetlinkSystem}),
    or an in-memory kernel in tests
    (L{dhcpsuite.netlink.testing.MemoryNetlinkSystem}).
    """

    def open(groups, receive_buffer, netns=None):
        """
        Open a non-blocking, close-on-exec C{NETLINK_ROUTE} socket bound to
        the multicast C{groups}, with a receive buffer of C{receive_buffer}
        bytes (forced past C{rmem_max} where permitted), inside the network
        namespace C{netns} (a name under C{/run/netns}) when given.

        @return: the file descriptor.
        """

    def portid(fd):
        """
        @return: the netlink port id the kernel gave the socket.
        """

    def recv(fd, size):
        """
        @return: one datagram. Raises L{OSError} (C{EAGAIN} when empty,
            C{ENOBUFS} when the kernel dropped messages).
        """

    def send(fd, data):
        """
        Send one request to the kernel.
        """

    def close(fd):
        """
        Close the socket.
        """

    receive_buffer_sizes = Attribute("fd -> effective receive buffer in bytes (for logging and tests)")


class IReconfigurable(Interface):
    """
    A running component that takes a new configuration of its own section
    without a restart (L{dhcpsuite.reload}). Two steps, so that a reload
    changes all components or none: C{prepare} does everything that can
    fail and changes nothing visible; the function it returns only swaps
    the prepared state in and must not fail.
    """

    def prepare_reconfigure(new):
        """
        @param new: the component's new, validated section configuration
            (its keys that cannot change live are already checked equal).
        @raise dhcpsuite.config.ConfigError: naming the key, when this
            running component cannot take C{new}.
        @return: a callable of no arguments that applies C{new}.
        """


class ILeaseRegistry(Interface):
    """
    The current lease of each interface and address family (4 or 6), as the
    lease-ingest endpoint and the client learn them, with the time and cause
    of each change; read by the control API and told to L{ILeaseListener}s.
    """

    def add_listener(listener):
        """
        Tell C{listener} (an L{ILeaseListener}) of every later change, in the
        order listeners were added.
        """

    def remove_listener(listener):
        """
        Stop telling C{listener}; unknown listeners are ignored.
        """

    def set_lease(ifname, family, record, cause, limit=None):
        """
        Make C{record} the current lease of C{ifname} for C{family}.

        @param limit: refuse an interface not held yet once this many
            interfaces written with a limit are held.
        @return: the new entry (lease, learned_at, cause).
        @raise dhcpsuite.leases.registry.RegistryFull: when C{limit} refuses.
        """

    def clear_lease(ifname, family, cause):
        """
        @return: whether there was a lease to forget.
        """

    def current(ifname, family):
        """
        @return: the entry (lease, learned_at, cause), or L{None}.
        """

    def lease(ifname, family):
        """
        @return: the current lease record, or L{None}.
        """

    def snapshot():
        """
        @return: a copy of every entry, keyed by C{(ifname, family)}.
        """

    def interfaces():
        """
        @return: the sorted names of the interfaces holding a lease.
        """


class IInterfaceTable(Interface):
    """
    The kernel's links, addresses and routes as netlink reported them.
    """

    def link(name_or_index):
        """
        @return: the L{dhcpsuite.netlink.events.Link} by name or ifindex,
            or L{None}.
        """

    def addresses_of(name_or_index):
        """
        @return: a L{list} of the interface's addresses (empty when unknown).
        """

    def routes_via(name_or_index):
        """
        @return: a L{list} of the routes out of the interface.
        """

    def snapshot():
        """
        @return: an iterator of C{*Added} events for the current state:
            links, then addresses, then routes.
        """


class INetlinkReader(Interface):
    """
    The rtnetlink reader: keeps an L{IInterfaceTable} current and tells
    L{INetlinkListener}s of every change.
    """

    table = Attribute("The L{IInterfaceTable} it keeps.")
    readiness = Attribute("The L{dhcpsuite.netlink.readiness.ReadinessTracker} fed from it.")
    events_delivered = Attribute("Events delivered to listeners (L{int}), for /metrics.")
    overruns = Attribute("Kernel ENOBUFS overruns of the socket (L{int}), for /metrics.")
    resyncs = Attribute("Full re-dumps completed after overruns (L{int}), for /metrics.")
    synced = Attribute("Whether the initial dump has been applied (L{bool}).")

    def when_synced():
        """
        @return: a L{Deferred} that fires once the initial dump is applied.
        """

    def add_listener(listener, replay=True):
        """
        Register an L{INetlinkListener}; with C{replay}, first give it the
        current table as C{*Added} events.
        """

    def remove_listener(listener):
        """
        Stop telling C{listener}.
        """

    def request_resync():
        """
        Dump the kernel's state again (rate-limited).
        """

    def health():
        """
        @return: a JSON-serialisable L{dict} with at least C{{"ok": bool}}.
        """


class ICommitTimings(Interface):
    """
    A lease store that writes behind and times its commits: the
    C{dhcpsuite_lease_store_*} metrics (commit-latency histogram, faults).
    """

    commit_bucket_bounds = Attribute("The histogram's upper bounds in seconds, ascending, the last C{inf}.")
    commit_buckets = Attribute("Commits per bucket (a sequence of L{int}, one per bound, not cumulative).")
    commit_seconds_total = Attribute("Seconds spent committing, in all (L{float}).")
    commit_failures = Attribute("Commit attempts that failed (L{int}); each is retried, no ACK meanwhile.")
    conflicts_lost = Attribute("Bindings a shared database gave to another server's client at commit (L{int}).")
    reconnects = Attribute("New database connections after a failure (L{int}).")
    learned = Attribute("Bindings taken into the index from other servers' commits (L{int}).")
    unreachable_seconds = Attribute("Seconds the database has failed commits, in total (L{float}).")


class ILeaseHistory(Interface):
    """
    The lease history's storage (L{dhcpsuite.history}): an append-only log
    of binding changes, queryable by address or MAC over time.
    """

    counters = Attribute("A L{collections.Counter}: recorded, dropped, written, write-failed..., for /metrics.")

    def append(record):
        """
        Queue one L{dhcpsuite.history.events.HistoryRecord}; never blocks.
        Return L{False} when it was dropped (queue full, closed) and counted.
        """

    def select(key, start, end, limit):
        """
        A L{Deferred} firing with C{(records, truncated)}: the records of an
        address (L{IPv4Address}) or a MAC (L{bytes}) from C{start} to C{end}
        (and back to the earliest binding that may still have held at
        C{start}), in order, at most C{limit}.
        """

    def prune(before):
        """
        Delete one bounded batch of records older than C{before}; a
        L{Deferred} firing with how many went.
        """

    def close():
        """
        Write what is queued and close; a L{Deferred}.
        """


class IAddressShare(Interface):
    """
    Which free addresses this server offers new clients first: in a cluster
    sharing one lease database, each live member owns a share of every
    pool's free addresses, so members do not collide on them (the database
    still arbitrates when one borrows from another's share). Renewals,
    reservations and a client's own addresses ignore shares.
    """

    generation = Attribute("An L{int} that changes whenever the shares change (a member joined or left).")
    whole = Attribute("L{True} when every address is this server's (no cluster, or alone in it).")

    def mine(address):
        """
        Is the L{IPv4Address} C{address} in this server's share?
        """


class ICluster(Interface):
    """
    A lease store shared by several servers: who its members are and this
    server's share of the free addresses (C{GET /api/v1/cluster}).
    """

    share = Attribute("This server's L{IAddressShare}.")
    name = Attribute("This server's member id (L{str}).")

    def members():
        """
        Every member the database knows, as JSON-ready L{dict}s with at
        least C{id}, C{host}, C{pid}, C{pools}, C{heartbeat_age} (seconds),
        C{alive} and C{share} (addresses per pool, L{None} for a member
        that is not alive or serves other pools).
        """

    def pools_refused(pools):
        """
        Why this server may not serve C{pools} (a sequence of (first, last)
        address texts) instead of its current ones: they overlap a live
        member's pools but differ from them (C{""} when it may).
        """

    def serve_pools(pools):
        """
        This server serves C{pools} now (a reload applied): shown to the
        other members and used for the shares.
        """
