"""Grete's command line: topic administration, a console producer and consumer, and `serve`."""
