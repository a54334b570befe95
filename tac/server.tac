# twistd -ny tac/server.tac
#
# The same daemon as `twistd dhcpsuite`, built by the same makeService. The
# configuration file comes from $DHCPSUITE_CONFIG (the embedded default when
# unset), the state directory from $DHCPSUITE_STATE_DIR when set.
import os

from twisted.application import service

from dhcpsuite.tap import makeService, read_config

application = service.Application("dhcpsuite")
config = read_config(os.environ.get("DHCPSUITE_CONFIG"), os.environ.get("DHCPSUITE_STATE_DIR"))
makeService(config).setServiceParent(application)
