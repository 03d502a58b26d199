"""The professionals registry: loading it from a CSV file and from MFN^M02 staff master files."""
