"""Helpers for running a Grete broker inside a test process (``grete.testing.BrokerThread``)."""
