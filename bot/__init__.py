"""newsbot: an async newsletter and social-distribution bot for a news outlet."""

__version__ = "0.1.0"
