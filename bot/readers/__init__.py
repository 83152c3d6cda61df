"""Readers: chat commands and keyboards, groups and channels, email signup with double opt-in."""
