"""Abaco clientg: worker credentials over the clients channel."""
