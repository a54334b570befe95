"""
The client-side plugins (standard library only): executables that udhcpc
(C{-s}) and dibbler (C{script}) run on every lease event, each sending one
C{PLUGIN_MSG} to the lease-ingest endpoint.
"""
