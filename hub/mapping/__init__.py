"""The mapping engine: mapping files (loader, spec), HL7 values and structure, mapping a message
into dossier entries, and the `hub map` preview."""
