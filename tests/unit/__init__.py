"""Tests of this tier; a package so that two tiers may hold files of the same name."""
