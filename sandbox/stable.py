"""Content as a pure function of (seed, what, key): the same id gives the same video, thread or
article in every run and every process, so a crawl can be checked against what it fetched."""

from __future__ import annotations

import base64
import hashlib
import random

WORDS = [
    "river",
    "city",
    "night",
    "market",
    "garden",
    "winter",
    "light",
    "music",
    "story",
    "rain",
    "coffee",
    "bridge",
    "train",
    "harbour",
    "forest",
    "festival",
    "kitchen",
    "museum",
    "island",
    "mountain",
    "bakery",
    "library",
    "village",
    "station",
    "summer",
    "lantern",
    "orchard",
    "workshop",
    "theatre",
    "meadow",
    "canal",
]
NAMES = [
    "Anna",
    "Ben",
    "Chloe",
    "Diego",
    "Emma",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kaia",
    "Liam",
    "Mila",
    "Noah",
    "Olga",
    "Pia",
]


def fraction(seed: int, what: str, key: str) -> float:
    """A number in [0, 1) fixed by (seed, what, key)."""
    digest = hashlib.blake2b(f"{seed}:{what}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def rng(seed: int, what: str, key: str) -> random.Random:
    return random.Random(f"{seed}:{what}:{key}")


def words(r: random.Random, n: int) -> str:
    return " ".join(r.choice(WORDS) for _ in range(n))


def sentence(r: random.Random, n: int = 12) -> str:
    text = words(r, n)
    return text[0].upper() + text[1:] + "."


def digest(seed: int, what: str, key: str, size: int = 11) -> str:
    """`size` URL-safe characters fixed by (seed, what, key): ids of channels, comments..."""
    raw = hashlib.blake2b(f"{seed}:{what}:{key}".encode(), digest_size=size).digest()
    return base64.urlsafe_b64encode(raw).decode()[:size]
