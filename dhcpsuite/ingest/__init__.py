"""
Lease ingest, wire-compatible with the RDK-B DHCP Manager's lease monitor.

External DHCP clients (udhcpc, dibbler) run small plugins that push a
fixed-size binary C{PLUGIN_MSG} over nanomsg's SP/TCP PUSH protocol; this
package pulls, decodes, routes and records them.

Modules that the plugins import (L{dhcpsuite.ingest.layout},
L{dhcpsuite.ingest.sp}, L{dhcpsuite.ingest.plugins}) use the standard library
only, so a plugin starts in milliseconds: keep this package's C{__init__}
free of imports.
"""
