"""Abaco admin API: workers."""
