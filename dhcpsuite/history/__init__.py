"""
The lease history: an append-only record of who held which address when
(the server's answer to "who had 10.0.0.5 at 14:02 on the 1st"), after
Kea's legal-log hook but queryable.
"""
