"""MLLP: the bytes-and-blocks layer (framing) and a blocking client. Knows nothing of HL7."""
