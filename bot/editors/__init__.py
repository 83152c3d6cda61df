"""Editors: who is one, their chat desk (/push, /story, /stats) and the audit log of what they did."""
