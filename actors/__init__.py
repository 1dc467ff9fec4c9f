"""The hot state of flashsale: a pure domain core and the Ray actors that wrap it."""
