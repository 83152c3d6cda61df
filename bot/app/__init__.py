"""The application's frame: settings, errors, the assembled newsroom, the long-running process and its bot."""
