# twistd -ny tac/client.tac
#
# The DHCPv4 client, built by the same makeService as `twistd dhcpsuite`
# from the [client] section of the configuration (with [netlink] and
# [control] when present). The configuration file comes from
# $DHCPSUITE_CONFIG (the embedded default when unset), the state directory
# from $DHCPSUITE_STATE_DIR when set.
import os

from twisted.application import service

from dhcpsuite.tap import makeService, read_config

application = service.Application("dhcpsuite-client")
config = read_config(os.environ.get("DHCPSUITE_CONFIG"), os.environ.get("DHCPSUITE_STATE_DIR"))
makeService(config).setServiceParent(application)
