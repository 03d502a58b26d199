"""The worker: consumes, parses, maps (driven by mappings/), stores."""
