"""Use cases around the domain: no Ray, no I/O of their own (only ports)."""
