"""Baseline recommenders shipped with mmbench, one plugin per file."""
