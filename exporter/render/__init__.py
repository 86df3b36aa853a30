"""Snapshots to exposition bytes: the two wire formats, the per-object byte store and
the Exposition that serves cached bodies, with the exporter's own metrics.

`store` and `exposition` sit on the collectors (`exporter.collectors`, whose
`family.Family` is the row holder they encode). Nothing here imports aiohttp.
"""
