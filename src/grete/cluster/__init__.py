"""Cluster metadata: topics and their configs, the metadata image, the controller."""
