"""Log storage in Kafka's on-disk format: segments, indexes, checkpoints, recovery, producer state.

Nothing here knows about the network, the protocol, or replication.
"""
