"""A partition's role (leader; followers come with replication), high watermark, delayed produce/fetch."""
