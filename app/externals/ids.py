"""Random ids and secrets: the only place greenbar draws randomness."""

import secrets


def token(nbytes: int = 16) -> str:
    """`nbytes` random bytes in hex: job and pull ids (16 bytes, so no one guesses another's)
    and container names."""
    return secrets.token_hex(nbytes)


def secret(nbytes: int = 32) -> bytes:
    """`nbytes` random bytes for a key."""
    return secrets.token_bytes(nbytes)
