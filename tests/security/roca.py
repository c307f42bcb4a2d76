"""Build RSA moduli with the ROCA structure (CVE-2017-15361), for tests only.

Infineon's RSALib made primes p = k*M + (65537^a mod M) with M the product
of the primes up to 167 (for the smallest key sizes; larger sizes use a
larger primorial that still contains these). This module makes such primes
on purpose so the refusal can be tested without a real vulnerable key.
"""

from __future__ import annotations

import math
import random

SMALL_PRIMES = [p for p in range(2, 168) if all(p % d for d in range(2, math.isqrt(p) + 1))]
M = math.prod(SMALL_PRIMES)


def is_probable_prime(n: int, rng: random.Random, rounds: int = 24) -> bool:
    """Miller-Rabin with random bases."""
    if n < 2:
        return False
    for p in SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def roca_prime(bits: int, rng: random.Random) -> int:
    """A prime of exactly ``bits`` bits, top two bits set, of the RSALib form."""
    low, high = 3 << (bits - 2), 1 << bits
    while True:
        k = rng.randrange(low // M + 1, high // M - 1)
        p = k * M + pow(65537, rng.randrange(1, M), M)
        if low <= p < high and is_probable_prime(p, rng):
            return p


def roca_primes(bits: int = 1024, seed: int = 2017) -> tuple[int, int]:
    """Two distinct ROCA-form primes whose product has exactly ``2 * bits`` bits."""
    rng = random.Random(seed)
    p = roca_prime(bits, rng)
    q = roca_prime(bits, rng)
    while q == p or math.gcd(65537, (p - 1) * (q - 1)) != 1:
        q = roca_prime(bits, rng)
    return p, q


def looks_roca(n: int) -> bool:
    """Independent fingerprint check: n is a power of 65537 modulo each small prime."""
    for p in SMALL_PRIMES[1:]:
        powers, value = set(), 1
        while value not in powers:
            powers.add(value)
            value = value * 65537 % p
        if n % p not in powers:
            return False
    return True
