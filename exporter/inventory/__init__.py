"""The in-memory inventory: the event watcher and the snapshot store it keeps current."""
