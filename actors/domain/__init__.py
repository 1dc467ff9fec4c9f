"""The rules of a flash sale, in the standard library only: no Ray, no I/O."""
