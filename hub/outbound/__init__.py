"""Per-destination senders, ACK correlation, retry and parking (issue 3)."""
