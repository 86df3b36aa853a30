"""The panel library every dashboard module builds on (node-mixin's `lib/` in Python)."""
