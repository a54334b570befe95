"""
DHCPv4 numbers: message types, option codes, ports, flags (RFC 2131, 2132 and
the later RFCs that assign options).
"""

from enum import IntEnum

from dhcpsuite.simpleenum import simple_enum

SERVER_PORT = 67
CLIENT_PORT = 68

BOOTREQUEST = 1
BOOTREPLY = 2

HTYPE_ETHERNET = 1

FLAG_BROADCAST = 0x8000

MAGIC_COOKIE = b"\x63\x82\x53\x63"

# RFC 2131: the fixed header (236) plus the magic cookie.
HEADER_SIZE = 236
MINIMUM_PACKET_SIZE = HEADER_SIZE + len(MAGIC_COOKIE)
# BOOTP relays and old clients expect at least 300 bytes of payload (RFC 1542).
BOOTP_MINIMUM_SIZE = 300
# RFC 2131 section 2: every client accepts 576-byte IP datagrams.
MINIMUM_MAX_MESSAGE_SIZE = 576
IP_UDP_HEADERS = 28


@simple_enum(IntEnum)
class MessageType:
    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8
    FORCERENEW = 9
    LEASEQUERY = 10
    LEASEUNASSIGNED = 11
    LEASEUNKNOWN = 12
    LEASEACTIVE = 13


@simple_enum(IntEnum)
class Option:
    PAD = 0
    SUBNET_MASK = 1
    TIME_OFFSET = 2
    ROUTER = 3
    TIME_SERVER = 4
    NAME_SERVER = 5
    DOMAIN_NAME_SERVER = 6
    LOG_SERVER = 7
    LPR_SERVER = 9
    HOST_NAME = 12
    BOOT_FILE_SIZE = 13
    DOMAIN_NAME = 15
    SWAP_SERVER = 16
    ROOT_PATH = 17
    IP_FORWARDING = 19
    DEFAULT_TTL = 23
    INTERFACE_MTU = 26
    BROADCAST_ADDRESS = 28
    STATIC_ROUTE = 33
    NIS_DOMAIN = 40
    NIS_SERVERS = 41
    NTP_SERVERS = 42
    VENDOR_SPECIFIC = 43
    NETBIOS_NAME_SERVER = 44
    REQUESTED_ADDRESS = 50
    LEASE_TIME = 51
    OVERLOAD = 52
    MESSAGE_TYPE = 53
    SERVER_ID = 54
    PARAMETER_REQUEST_LIST = 55
    MESSAGE = 56
    MAX_MESSAGE_SIZE = 57
    RENEWAL_TIME = 58
    REBINDING_TIME = 59
    VENDOR_CLASS_ID = 60
    CLIENT_ID = 61
    TFTP_SERVER_NAME = 66
    BOOTFILE_NAME = 67
    USER_CLASS = 77
    RAPID_COMMIT = 80
    CLIENT_FQDN = 81
    RELAY_AGENT_INFO = 82
    CLIENT_SYSTEM = 93
    CLIENT_NDI = 94
    UUID_GUID = 97
    DOMAIN_SEARCH = 119
    SUBNET_SELECTION = 118
    CLASSLESS_STATIC_ROUTE = 121
    VENDOR_IDENTIFYING_CLASS = 124
    VENDOR_IDENTIFYING_INFO = 125
    MS_CLASSLESS_STATIC_ROUTE = 249
    END = 255


@simple_enum(IntEnum)
class RelayAgentSubOption:
    CIRCUIT_ID = 1
    REMOTE_ID = 2
    LINK_SELECTION = 5
    SUBSCRIBER_ID = 6
    SERVER_ID_OVERRIDE = 11


# Overload (option 52) values: which header fields also carry options.
OVERLOAD_FILE = 1
OVERLOAD_SNAME = 2
OVERLOAD_BOTH = 3
