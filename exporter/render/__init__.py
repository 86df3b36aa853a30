"""Snapshots to exposition bytes: the family type, the two wire formats, the per-object
byte store and the Exposition that serves cached bodies.

Collectors (`exporter.collectors`) sit on `family`; `store` and `exposition` sit on the
collectors. Nothing here imports aiohttp.
"""
