"""Sockets → frames: listener, connection (ordering, backpressure), sans-IO framing."""
