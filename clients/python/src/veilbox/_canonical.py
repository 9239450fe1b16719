"""Canonical JSON exactly as the veilbox server writes it (``src/store/audit.ts``).

A receipt's Ed25519 signature covers ``canonicalJson`` of its other fields:
object keys sorted in UTF-16 code unit order, no whitespace, strings and
numbers written as JavaScript's ``JSON.stringify`` writes them. Python's
``json`` module agrees on strings (with ``ensure_ascii=False``) but not on
numbers (``1e-07`` against ``1e-7``, ``1e+16`` against ``10000000000000000``),
so numbers are formatted here by ECMAScript's Number::toString rules.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

__all__ = ["canonical_json", "js_number"]


def js_number(value: float | int) -> str:
    """Format a number as JavaScript's ``JSON.stringify`` does.

    Integers that a double holds exactly print as integers; every other
    number goes through the shortest round-trip digits (``repr``) and
    ECMAScript's rules for where the decimal point and exponent go.

    Raises:
        ValueError: for NaN or an infinity, which JSON cannot carry.
    """
    if isinstance(value, bool):  # bool is an int subclass; JSON writes it as a literal
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) < 2**53:
        return str(value)
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"{value!r} has no JSON form")
    if x == 0:
        return "0"  # -0 prints as 0 in JavaScript
    sign = "-" if x < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(x))).as_tuple()
    digits = "".join(str(d) for d in digit_tuple).lstrip("0")
    stripped = digits.rstrip("0")
    exponent = int(exponent) + (len(digits) - len(stripped))
    digits = stripped
    k = len(digits)
    n = exponent + k  # the decimal point sits after the n-th digit
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
        out = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + out


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of a JSON value (dicts, lists, str, int, float, bool, None)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return js_number(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, dict):
        parts = []
        for k in sorted(value.keys(), key=_utf16_key):
            if not isinstance(k, str):
                raise TypeError(f"object keys must be strings, got {k!r}")
            parts.append(json.dumps(k, ensure_ascii=False) + ":" + canonical_json(value[k]))
        return "{" + ",".join(parts) + "}"
    raise TypeError(f"{type(value).__name__} is not a JSON value")
