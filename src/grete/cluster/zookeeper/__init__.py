"""Kafka's classic ZooKeeper layout, sans-IO: znode paths and the JSON stored in them.

Nothing here talks to ZooKeeper. `paths` names the znodes, `znodes` turns their data into
frozen dataclasses and back, byte-compatible with what a ZooKeeper-mode Kafka broker
writes, so a Grete cluster's ZooKeeper tree reads like Kafka's to Kafka's own tools.
"""
