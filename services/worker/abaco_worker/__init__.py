"""Abaco worker: runs one container per actor message."""
