"""Route modules of the daemon, one per Engine API area. Each has `register(router, services)`."""
