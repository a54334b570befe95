# -*- test-case-name: tests.unit.test_netlink_decode -*-
"""
rtnetlink's numbers, named once (linux/netlink.h, linux/rtnetlink.h,
linux/if_link.h, linux/if_addr.h, linux/neighbour.h), for the decoder, the
request builders and the fakes alike. Nothing but constants and the header
layout: the client's early path imports this before anything else.
"""

from __future__ import annotations

import struct

# struct nlmsghdr: length, type, flags, sequence number, port id.
HEADER = struct.Struct("=IHHII")
HEADER_SIZE = HEADER.size

# Message types.
NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWNEIGH = 28

# Header flags. The 0x100/0x200 bits mean different things by context:
# ROOT/MATCH on a GET, REPLACE/EXCL on a NEW, CAPPED/ACK_TLVS on an error.
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP_INTR = 0x10
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200

# Attribute type bits that are flags, not part of the type.
NLA_TYPE_MASK = 0x3FFF

# NLMSG_ERROR extended-ACK attributes.
NLMSGERR_ATTR_MSG = 1

# struct ifinfomsg attributes.
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_INFO_KIND = 1

# struct ifaddrmsg attributes.
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3
IFA_BROADCAST = 4
IFA_CACHEINFO = 6
IFA_FLAGS = 8

# struct rtmsg attributes.
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_PREFSRC = 7
RTA_MULTIPATH = 9
RTA_TABLE = 15
RTM_F_CLONED = 0x200

# struct ndmsg attributes and states.
NDA_DST = 1
NDA_LLADDR = 2
NUD_REACHABLE = 0x02

# Route fields.
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_NOWHERE = 255
RTN_UNICAST = 1
RT_TABLE_COMPAT = 252
RT_TABLE_MAIN = 254

# Lifetimes (struct ifa_cacheinfo): "forever".
INFINITY_LIFE_TIME = 0xFFFFFFFF
