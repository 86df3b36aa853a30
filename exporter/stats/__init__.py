"""Resource samplers: the cgroup fast path, the stats API source, `top` and disk usage."""
