"""Abaco registration API: actors, executions, logs."""
