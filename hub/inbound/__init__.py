"""MLLP framing and listener, header sniffing, ACK building: everything before the broker."""
