"""Terminal output: colour only where it belongs, JSON that is safe to show.

Colour follows https://no-color.org: off when ``NO_COLOR`` is set (non-empty),
off when the stream is not a terminal or ``TERM=dumb``, and ``--color
always|never`` on the command line overrides both. stdout and stderr decide
separately, so ``jotgate token decode T | less`` keeps a coloured banner on
the terminal and a plain body in the pipe.

Everything printed from a token is attacker-chosen text. JSON already escapes
C0 control characters; :func:`render_json` also escapes C1 controls and
Unicode format characters (bidi overrides, zero-width joiners...) so a claim
cannot move the cursor, rewrite the banner or disguise itself on screen. The
result is still valid JSON that means the same thing.
"""

from __future__ import annotations

import json
import os
import re
import sys
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["Console", "colour_wanted", "render_json"]

# SGR codes, by role rather than by colour, so the look is decided here once.
RESET = "\033[0m"
BOLD = "1"
DIM = "2"
RED = "31"
GREEN = "32"
YELLOW = "33"
BLUE = "34"
MAGENTA = "35"
CYAN = "36"

_KEY = BLUE
_STRING = GREEN
_NUMBER = YELLOW
_LITERAL = MAGENTA

# Short lists of scalars (an "aud" list, "roles") read best on one line.
_INLINE_WIDTH = 60


def colour_wanted(stream: TextIO, choice: str, env: Mapping[str, str]) -> bool:
    """Whether to colour ``stream``, given ``--color`` and the environment."""
    if choice == "always":
        return True
    if choice == "never" or env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def _unsafe(char: str) -> bool:
    # Cc covers C0, DEL and C1; Cf the invisible format characters; Zl/Zp the
    # Unicode line and paragraph separators that some terminals honour.
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


_NON_ASCII_OR_DEL = re.compile(r"[^\x20-\x7e]")


def _escape_unsafe(match: re.Match[str]) -> str:
    char = match.group()
    if not _unsafe(char):
        return char
    if ord(char) > 0xFFFF:
        # JSON spells astral characters as a surrogate pair.
        code = ord(char) - 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{ord(char):04x}"


def _string(value: str) -> str:
    return _NON_ASCII_OR_DEL.sub(_escape_unsafe, json.dumps(value, ensure_ascii=False))


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\033[{code}m{text}{RESET}" if colour else text


def _scalar(value: Any, colour: bool) -> str:
    if isinstance(value, str):
        return _paint(_string(value), _STRING, colour)
    if value is None or isinstance(value, bool):
        return _paint(json.dumps(value), _LITERAL, colour)
    if isinstance(value, int | float):
        return _paint(json.dumps(value, allow_nan=False), _NUMBER, colour)
    raise TypeError(f"not JSON: {type(value).__name__}")


def render_json(value: Any, *, colour: bool = False, indent: int = 2, _depth: int = 0) -> str:
    """Pretty JSON (member order kept), optionally coloured, with unsafe characters escaped.

    Example::

        >>> print(render_json({"sub": "42", "aud": ["a", "b"]}))
        {
          "sub": "42",
          "aud": ["a", "b"]
        }
    """
    pad = " " * (indent * (_depth + 1))
    end_pad = " " * (indent * _depth)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{pad}{_paint(_string(str(k)), _KEY, colour)}: "
            f"{render_json(v, colour=colour, indent=indent, _depth=_depth + 1)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + end_pad + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if not any(isinstance(v, dict | list) for v in value):
            plain = "[" + ", ".join(_scalar(v, False) for v in value) + "]"
            if len(plain) <= _INLINE_WIDTH:
                return "[" + ", ".join(_scalar(v, colour) for v in value) + "]"
        items = [
            pad + render_json(v, colour=colour, indent=indent, _depth=_depth + 1) for v in value
        ]
        return "[\n" + ",\n".join(items) + "\n" + end_pad + "]"
    return _scalar(value, colour)


@dataclass
class Console:
    """Where a command writes: stdout for results, stderr for everything else."""

    out: TextIO
    err: TextIO
    colour_out: bool = False
    colour_err: bool = False

    @classmethod
    def for_process(cls, choice: str = "auto") -> Console:
        """The console of this process: ``sys.stdout``/``sys.stderr`` as they are now."""
        out, err = sys.stdout, sys.stderr
        return cls(
            out,
            err,
            colour_wanted(out, choice, os.environ),
            colour_wanted(err, choice, os.environ),
        )

    def paint(self, text: str, *codes: str, err: bool = False) -> str:
        """``text`` in the given SGR codes, if that stream is coloured."""
        on = self.colour_err if err else self.colour_out
        return _paint(text, ";".join(codes), on) if codes else text

    def print(self, text: str = "") -> None:
        """Write one line of result to stdout."""
        _write(self.out, text + "\n")

    def json(self, value: Any) -> None:
        """Write ``value`` to stdout as pretty, safe JSON."""
        self.print(render_json(value, colour=self.colour_out))

    def note(self, text: str) -> None:
        """A remark on stderr that a script may ignore."""
        _write(self.err, f"jotgate: {text}\n")

    def warn(self, text: str) -> None:
        """A warning on stderr: something worked but deserves a second look."""
        _write(self.err, f"jotgate: {self.paint('warning:', BOLD, YELLOW, err=True)} {text}\n")

    def error(self, text: str) -> None:
        """The one-line failure report on stderr."""
        _write(self.err, f"jotgate: {self.paint('error:', BOLD, RED, err=True)} {text}\n")


def _write(stream: TextIO, text: str) -> None:
    try:
        stream.write(text)
    except UnicodeEncodeError:
        # A terminal that cannot show a claim's characters gets them escaped
        # rather than a traceback.
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
    stream.flush()
