"""Fast HL7 v2 reading (split-based, no hl7apy on the hot path): charsets, escapes, paths."""
