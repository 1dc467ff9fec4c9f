"""Order ids: ULIDs (26 characters, sortable by creation time), from given time and bytes."""

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32


def ulid(epoch_ms: int, random80: bytes) -> str:
    if len(random80) != 10:
        raise ValueError("a ULID takes 10 random bytes")
    if not 0 <= epoch_ms < 1 << 48:
        raise ValueError("epoch_ms out of range")
    value = (epoch_ms << 80) | int.from_bytes(random80, "big")
    return "".join(_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))
