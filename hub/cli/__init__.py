"""The `hub` console command."""
