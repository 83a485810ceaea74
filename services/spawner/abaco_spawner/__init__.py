"""Abaco spawner: starts worker processes from the command channel."""
