"""Readers' languages: the gettext catalogs, choosing a reader's language, and dates and numbers in it."""
