"""Workflows: operations that cross records and channels, one function each.

Routes and daemons call these; each docstring states the steps and what holds when a step fails.
"""
