# -*- test-case-name: tests.unit.test_server_outcomes -*-
"""
The outcome and drop-reason names are metric label values: dashboards and
alerts match them as text, so the enums must keep exactly these strings.
"""

import collections

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.server.outcomes import EXCHANGE_EVENTS, DropReason, OutcomeEvent, counter_key, drop_key


class OutcomeNamesTests(SynchronousTestCase):
    def test_label_values(self) -> None:
        self.assertEqual(
            [str(e) for e in OutcomeEvent], ["offer", "ack", "nak", "release", "decline", "inform", "ignore", "drop"]
        )
        self.assertEqual(EXCHANGE_EVENTS, {"offer", "ack", "nak", "release", "decline", "inform", "ignore"})
        self.assertEqual(
            {str(r) for r in DropReason},
            {
                "not-a-request", "no-message-type", "no-client-identity", "rate-limited-relay",
                "rate-limited-client", "no-subnet", "interface-not-ready", "request-without-address",
                "decline-without-address", "bad-option", "internal-error", "reply-too-large", "commit-failed",
                "commit-conflict-lost", "commit-backlog", "queue-wait",
            },
        )

    def test_counter_keys(self) -> None:
        """
        An enum member and its text count under the same key (a Counter fed
        from both places adds up), in the C{event[:reason]} form.
        """
        counters = collections.Counter()
        counters[counter_key(OutcomeEvent.DROP, DropReason.NO_SUBNET)] += 1
        counters["drop:no-subnet"] += 1
        counters[drop_key("truncated")] += 1
        counters[counter_key(OutcomeEvent.OFFER)] += 1
        counters[counter_key(OutcomeEvent.NAK, "address-not-offered-to-client")] += 1
        self.assertEqual(
            dict(counters),
            {"drop:no-subnet": 2, "drop:truncated": 1, "offer": 1, "nak:address-not-offered-to-client": 1},
        )
        self.assertEqual(f"{OutcomeEvent.ACK}".upper(), "ACK")
