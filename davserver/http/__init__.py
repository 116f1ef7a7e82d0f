"""HTTP semantics as pure functions: preconditions, byte ranges, digest fields, gzip.

Nothing here imports a web framework; every function works on header strings and plain
values so it can be unit- and property-tested in isolation.
"""
