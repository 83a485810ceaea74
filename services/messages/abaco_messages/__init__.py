"""Abaco messages API: actor mailboxes."""
