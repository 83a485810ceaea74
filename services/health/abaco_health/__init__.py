"""Abaco health checks, driven by APScheduler."""
