"""Periodic jobs of the `scheduler` role (included in `all`): a small scheduler and the jobs."""
