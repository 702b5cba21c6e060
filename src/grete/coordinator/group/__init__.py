"""The group coordinator: ``__consumer_offsets`` records, partitioning and replayed state."""
