"""Signed receipts: check offline that an answer is what veilbox released.

The service signs every released answer's receipt with Ed25519 over the
canonical JSON of the receipt's other fields (``src/engine/receipts.ts``);
``keyId`` is the first 16 hex digits of the SHA-256 of the public key's
SubjectPublicKeyInfo (DER), and ``resultHash`` the SHA-256 of the canonical
JSON of ``{columns, rows, intervals, confidence}`` as released. The public
keys are published without authentication at ``GET /v1/receipts/keys``
(:meth:`veilbox.Client.receipt_keys`).

Verifying needs the ``cryptography`` package (Debian: ``python3-cryptography``);
without it :meth:`Receipt.verify` raises :class:`veilbox.MissingDependency`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from typing import Any, Dict, Mapping, NamedTuple, Optional, Sequence, Union

from ._canonical import canonical_json
from .errors import MissingDependency

__all__ = ["Receipt", "ReceiptCheck", "result_hash"]

PublicKeyLike = Union[str, bytes, Mapping[str, Any], Any]


class ReceiptCheck(NamedTuple):
    """The outcome of :meth:`Receipt.check`: ``ok``, and when not, ``problem`` says why."""

    ok: bool
    problem: Optional[str] = None


def result_hash(columns: Sequence[str], rows: Sequence[Sequence[Any]], intervals: Sequence[Any], confidence: float) -> str:
    """SHA-256 (hex) of what an answer released, as its receipt's ``resultHash`` covers it."""
    text = canonical_json({"columns": columns, "rows": rows, "intervals": intervals, "confidence": confidence})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _cryptography() -> Any:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError as e:
        raise MissingDependency(
            "Receipt.verify() needs the 'cryptography' package for Ed25519, and it is not installed: "
            "install it (Debian/Ubuntu: apt-get install python3-cryptography; elsewhere: pip install cryptography), "
            "or check the receipt with `npx veilbox receipt verify <answer.json> --public-key <keys.json|key.pem>`."
        ) from e
    return InvalidSignature, serialization, Ed25519PublicKey


class Receipt:
    """An answer's signed receipt.

    Attributes:
        fields: the receipt as the server sent it (a copy; ``signature`` included).
    """

    def __init__(self, fields: Mapping[str, Any], released: Optional[Mapping[str, Any]] = None) -> None:
        """``fields`` is the answer's ``receipt`` object; ``released``, when given, is the answer's
        ``{columns, rows, intervals, confidence}``, checked against ``resultHash`` by :meth:`verify`."""
        self.fields: Dict[str, Any] = copy.deepcopy(dict(fields))
        self._released = copy.deepcopy(dict(released)) if released is not None else None

    @property
    def query_id(self) -> str:
        """The answer's id (``q_...``)."""
        return str(self.fields.get("queryId"))

    @property
    def key_id(self) -> str:
        """Which signing key signed it (see :meth:`veilbox.Client.receipt_keys`)."""
        return str(self.fields.get("keyId"))

    @property
    def signature(self) -> str:
        """The Ed25519 signature, base64."""
        return str(self.fields.get("signature"))

    @property
    def result_hash(self) -> str:
        """SHA-256 of the released columns, rows, intervals and confidence."""
        return str(self.fields.get("resultHash"))

    def signed_text(self) -> bytes:
        """The bytes the signature covers: canonical JSON of every field but ``signature``."""
        body = {k: v for k, v in self.fields.items() if k != "signature"}
        return canonical_json(body).encode("utf-8")

    def check(self, public_key: PublicKeyLike) -> ReceiptCheck:
        """Check the signature (and, for a receipt that came with an answer, that the answer is the one signed).

        Args:
            public_key: the service's Ed25519 public key, as PEM text or bytes,
                the ``GET /v1/receipts/keys`` document (the key with this
                receipt's ``keyId`` is picked from it), one entry of it, or a
                ``cryptography`` ``Ed25519PublicKey``.

        Returns:
            ``ReceiptCheck(True)``, or ``ReceiptCheck(False, why)``.

        Raises:
            MissingDependency: ``cryptography`` is not installed.
            ValueError: ``public_key`` cannot be read as an Ed25519 public key.
        """
        invalid_signature, serialization, ed25519_public_key = _cryptography()
        key = self._load_key(public_key, serialization, ed25519_public_key)
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        key_id = hashlib.sha256(der).hexdigest()[:16]
        if key_id != self.key_id:
            return ReceiptCheck(False, f"the receipt was signed with key {self.key_id}, not with this key ({key_id})")
        try:
            signature = base64.b64decode(self.signature, validate=True)
            key.verify(signature, self.signed_text())
        except (invalid_signature, ValueError, TypeError):
            return ReceiptCheck(
                False,
                "the signature does not match the receipt: a field was changed or the receipt was not issued by this key",
            )
        if self._released is not None:
            r = self._released
            if result_hash(r["columns"], r["rows"], r["intervals"], r["confidence"]) != self.result_hash:
                return ReceiptCheck(
                    False,
                    "the answer does not match the receipt: its columns, rows, intervals or confidence differ from what was released",
                )
        return ReceiptCheck(True)

    def verify(self, public_key: PublicKeyLike) -> bool:
        """``True`` when the receipt is signed by ``public_key`` and (with an answer) matches it; see :meth:`check`."""
        return self.check(public_key).ok

    def _load_key(self, public_key: PublicKeyLike, serialization: Any, ed25519_public_key: Any) -> Any:
        if isinstance(public_key, ed25519_public_key):
            return public_key
        if isinstance(public_key, Mapping):
            if "keys" in public_key:
                keys = list(public_key["keys"])
                match = [k for k in keys if isinstance(k, Mapping) and k.get("keyId") == self.key_id]
                if not match and not keys:
                    raise ValueError("the key document lists no keys")
                public_key = (match or keys)[0]
            if "publicKey" not in public_key:
                raise ValueError("expected a key entry with 'publicKey' (PEM), as GET /v1/receipts/keys lists them")
            public_key = public_key["publicKey"]
        if isinstance(public_key, str):
            public_key = public_key.encode("ascii")
        if isinstance(public_key, (bytes, bytearray)):
            data = bytes(public_key)
            if len(data) == 32:
                return ed25519_public_key.from_public_bytes(data)
            try:
                key = serialization.load_pem_public_key(data)
            except ValueError as e:
                raise ValueError("the public key cannot be read (expected an Ed25519 public key in PEM)") from e
            if not isinstance(key, ed25519_public_key):
                raise ValueError(f"the public key is a {type(key).__name__}, not an Ed25519 key")
            return key
        raise ValueError(f"cannot use a {type(public_key).__name__} as a public key")

    def to_dict(self) -> Dict[str, Any]:
        """The receipt as the server sent it."""
        return copy.deepcopy(self.fields)

    def __repr__(self) -> str:
        return f"Receipt(query_id={self.query_id!r}, key_id={self.key_id!r})"
