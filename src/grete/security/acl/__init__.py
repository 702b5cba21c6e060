"""The ACL authorizer, with the semantics of Kafka's AclAuthorizer.

Pure: no I/O. ``types`` holds resource patterns, entries, bindings and filters, with Kafka's
wire codes and names; ``authorizer`` decides requests over a set of bindings. The stores
live with the rest of the metadata: ``grete.cluster.acls`` (a single node's file) and
``grete.cluster.zookeeper.acls`` (Kafka's ZooKeeper layout).
"""
