"""
Switching over from another DHCP server: its lease files read into our
store (L{dhcpsuite.migration.importer}) and its configuration turned into
dhcpsuite TOML (L{dhcpsuite.migration.convert}).
"""
