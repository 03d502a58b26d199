"""DSP hub: HL7 v2 interoperability hub for a national shared care record."""
