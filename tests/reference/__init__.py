"""Differential tests: each hand-written HL7 rule of the hub against an independent reference.

- test_parsing: the fast parser (hub.hl7.message) vs hl7apy / python-hl7, on the corpus, at every
  position `mappings/` reads; MSH-18 decoding (hub.hl7.charset) vs table 0211.
- test_timestamps: hub.mapping.values TS/DTM/DT reading vs hl7apy's DTM/DT datatypes.
- test_acks: every ACK hub.inbound.ack / batch_ack builds vs hl7apy strict v2.5 validation and
  python-hl7 parsing.
- test_corpus_escapes, test_escape_roundtrip: hub.hl7.escape vs python-hl7's unescape on the
  corpus and hl7apy's escaping; escape and MSH-18 encode/decode round trips.
- test_cns_code: the CNS professional code format rule vs an independent description.
"""
