"""The HTTP side: routes, JSON views, TLS and auth web config."""
