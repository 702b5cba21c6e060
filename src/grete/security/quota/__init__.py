"""Client quota configurations (KIP-546): entities, validation, describe filters and the
precedence that picks the quota applying to a connection (KIP-55).

Pure: no I/O. The stores live with the rest of the metadata, in ``grete.cluster``
(embedded) and ``grete.cluster.zookeeper`` (Kafka's ZooKeeper layout).
"""
