"""Reading keys, secrets and tokens from files, and writing private keys safely.

Secrets never come from the command line itself (it ends up in shell history
and in ``ps`` for every user of the machine): an HMAC secret is read from a
file (its exact bytes) or from an environment variable, and so is a PEM
password.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys

from .. import _json, jwk
from ..errors import InvalidKeyError
from ._output import Console
from ._registry import CliError

__all__ = [
    "MAX_INPUT_BYTES",
    "add_key_source",
    "load_key",
    "load_key_source",
    "read_input",
    "read_token",
    "write_private_file",
]

#: No key file, key set or token the CLI reads is anywhere near this big.
MAX_INPUT_BYTES = 1 << 20


def read_input(path: str, *, what: str) -> bytes:
    """The bytes of ``path`` (``-`` is stdin), or a :class:`CliError` naming ``what``."""
    if path == "-":
        # Tests and some embedders give a text stream without a binary buffer.
        stream = getattr(sys.stdin, "buffer", None)
        raw = stream.read(MAX_INPUT_BYTES + 1) if stream else sys.stdin.read().encode()
        label = f"{what} on stdin"
    else:
        label = f"{what} {path!r}"
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_INPUT_BYTES + 1)
        except OSError as exc:
            raise CliError(f"cannot read {label}: {exc.strerror or exc}") from None
    if len(raw) > MAX_INPUT_BYTES:
        raise CliError(f"{label} is larger than {MAX_INPUT_BYTES} bytes")
    return raw


def read_token(argument: str) -> str:
    """A compact token from the argument, or from stdin when it is ``-``.

    Surrounding whitespace and an ``Authorization``-style ``Bearer`` prefix are
    dropped, so a header value pasted whole works.
    """
    text = argument
    if argument == "-":
        try:
            text = read_input("-", what="token").decode("utf-8")
        except UnicodeDecodeError:
            raise CliError("the token on stdin is not UTF-8 text") from None
    text = text.strip()
    scheme, _, rest = text.partition(" ")
    if rest and scheme.lower() == "bearer":
        text = rest.strip()
    if not text:
        raise CliError("no token given" + (" on stdin" if argument == "-" else ""))
    return text


def _env_bytes(variable: str, *, what: str) -> bytes:
    value = os.environ.get(variable)
    if value is None:
        raise CliError(f"environment variable {variable} (the {what}) is not set")
    # fsencode undoes the surrogateescape decoding: the variable's exact bytes.
    return os.fsencode(value)


def add_key_source(parser: argparse.ArgumentParser, *, purpose: str) -> None:
    """Add the mutually exclusive ``--key/--jwks/--secret-file/--secret-env`` options."""
    source = parser.add_argument_group(f"key to {purpose} with (exactly one)")
    one = source.add_mutually_exclusive_group(required=True)
    one.add_argument(
        "--key",
        metavar="FILE",
        help="a PEM, DER, JWK or JWKS file ('-' for stdin)",
    )
    if purpose == "verify":
        one.add_argument("--jwks", metavar="FILE", help="a JWKS file: keys picked by 'kid'")
    one.add_argument(
        "--secret-file",
        metavar="FILE",
        help="HMAC secret: the file's exact bytes (a trailing newline counts)",
    )
    one.add_argument(
        "--secret-env", metavar="VAR", help="HMAC secret: the value of environment variable VAR"
    )
    source.add_argument(
        "--password-env",
        metavar="VAR",
        help="password of an encrypted PEM key, from environment variable VAR",
    )


def load_key(path: str, *, password_env: str | None = None) -> jwk.Key | jwk.KeySet:
    """Load a PEM/DER/JWK file as a Key, or a JWKS file as a KeySet."""
    data = read_input(path, what="key file")
    password = _env_bytes(password_env, what="key password") if password_env else None
    if data.lstrip()[:1] == b"{":
        document = _json.loads_object(data, what="key file", error=InvalidKeyError)
        if "keys" in document:
            return jwk.KeySet.from_jwks(document)
        return jwk.Key.from_jwk(document)
    return jwk.Key.load(data, password=password)


def load_key_source(
    args: argparse.Namespace, console: Console, *, algorithms: list[str]
) -> jwk.Key | jwk.KeySet:
    """The key chosen by :func:`add_key_source` options, ready to sign or verify."""
    jwks_path: str | None = getattr(args, "jwks", None)
    if jwks_path is not None:
        return jwk.KeySet.from_jwks(read_input(jwks_path, what="JWKS file"))
    if args.key is not None:
        return load_key(args.key, password_env=args.password_env)
    if args.secret_file is not None:
        secret = read_input(args.secret_file, what="secret file")
        if secret.endswith(b"\n"):
            console.warn(
                "the secret file ends with a newline, which is part of the secret "
                "(write it with 'printf' or 'echo -n' if that is not meant)"
            )
    else:
        secret = _env_bytes(args.secret_env, what="HMAC secret")
    # One algorithm binds the key to it; several leave the choice to the token.
    alg = algorithms[0] if len(algorithms) == 1 else None
    return jwk.Key.from_secret(secret, alg=alg)


def write_private_file(path: str, data: bytes, *, force: bool) -> None:
    """Write private key material to ``path``, created with mode 0600.

    The file is created with its final mode in one ``open`` call, so there is
    no moment when it exists with wider permissions. Without ``force`` an
    existing file (or symlink) is refused; with it, the data goes to a fresh
    0600 file beside it that then replaces ``path`` atomically, so the old
    file's permissions are never inherited and a crash leaves no half key.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    target = path
    if force:
        directory, name = os.path.split(os.path.abspath(path))
        target = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise CliError(
            f"refusing to overwrite existing file {path!r} (use --force to replace it)"
        ) from None
    except OSError as exc:
        raise CliError(f"cannot create {path!r}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(target, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(target)
        raise CliError(f"cannot write {path!r}: {exc.strerror or exc}") from None
