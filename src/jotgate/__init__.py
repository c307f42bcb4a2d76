"""jotgate: JWT authentication for Python, whole.

The library core (``errors``, ``jwa``, ``jwk``, ``jws``, ``jwt``) depends on
``cryptography`` alone::

    from jotgate import jwk, jwt

    key = jwk.Key.generate("ES256")
    token = jwt.encode({"sub": "42"}, key, expires_in=900)
    claims = jwt.decode(token, key, algorithms=["ES256"])
"""

__version__ = "0.1.0"
