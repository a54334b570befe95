# twistd -ny tac/gateway.tac
#
# A home gateway in one process: the DHCPv4 client on the WAN interface, the
# server on the LAN, netlink, lease ingest and the control API, as configured
# in $DHCPSUITE_CONFIG ([client], [server], [netlink], [ingest], [control]).
# Built by the same makeService as `twistd dhcpsuite`.
# unset), the state directory from $DHCPSUITE_STATE_DIR when set.
import os

from twisted.application import service

from dhcpsuite.tap import makeService, read_config

application = service.Application("dhcpsuite")
config = read_config(os.environ.get("DHCPSUITE_CONFIG"), os.environ.get("DHCPSUITE_STATE_DIR"))
makeService(config).setServiceParent(application)
