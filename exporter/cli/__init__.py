"""The command line: settings, flags, logging and the `ps` client."""
