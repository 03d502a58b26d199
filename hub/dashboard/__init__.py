"""The read-only web dashboard served on the hub's HTTP port (see hub.dashboard.app)."""
