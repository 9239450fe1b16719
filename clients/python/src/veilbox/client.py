"""The HTTP client: the standard library's urllib, JSON in and out, problem+json refusals as exceptions."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .answer import Answer, Preview
from .errors import ConnectionFailed, VeilboxError, error_from_problem

__all__ = ["Client"]

USER_AGENT = "veilbox-python/0.1.0"


def _retry_after(headers: Any) -> Optional[float]:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Client:
    """A connection to a veilbox service as one principal (usually an analyst).

    >>> vb = Client("http://127.0.0.1:8080", "vbx_...")   # doctest: +SKIP
    >>> vb = Client()          # from VEILBOX_URL and VEILBOX_API_KEY   # doctest: +SKIP

    Every method raises a :class:`~veilbox.VeilboxError` subclass for a
    refusal (see :mod:`veilbox.errors`) and :class:`~veilbox.ConnectionFailed`
    when the service cannot be reached.
    """

    def __init__(self, url: Optional[str] = None, key: Optional[str] = None, *, timeout: float = 120.0) -> None:
        """
        Args:
            url: the service's base URL, e.g. ``http://127.0.0.1:8080``; default ``$VEILBOX_URL``.
            key: an API key (``vbx_...``); default ``$VEILBOX_API_KEY``.
            timeout: seconds to wait for one response.

        Raises:
            ValueError: no URL or no key was given and the environment variable is unset or empty.
        """
        url = url if url is not None else os.environ.get("VEILBOX_URL")
        key = key if key is not None else os.environ.get("VEILBOX_API_KEY")
        if not url:
            raise ValueError("no veilbox URL: pass Client(url, key) or set VEILBOX_URL (e.g. http://127.0.0.1:8080)")
        if not key:
            raise ValueError("no veilbox API key: pass Client(url, key) or set VEILBOX_API_KEY")
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"the veilbox URL must be http(s)://host[:port], got {url!r}")
        self.url = url.rstrip("/")
        self._key = key
        self.timeout = timeout

    @classmethod
    def from_env(cls, *, timeout: float = 120.0) -> "Client":
        """A client from ``VEILBOX_URL`` and ``VEILBOX_API_KEY`` (the same as ``Client()``)."""
        return cls(timeout=timeout)

    def __repr__(self) -> str:  # never shows the key
        return f"Client(url={self.url!r})"

    # -- transport ---------------------------------------------------------

    def _request(self, method: str, path: str, body: Optional[Mapping[str, Any]] = None, auth: bool = True) -> Any:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if auth:
            headers["Authorization"] = f"Bearer {self._key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as res:
                text = res.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            raise self._refusal(e) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ConnectionFailed(
                code=None, title="Cannot reach veilbox", detail=f"{method} {self.url}{path}: {reason}"
            ) from e
        return json.loads(text) if text else None

    @staticmethod
    def _refusal(e: urllib.error.HTTPError) -> VeilboxError:
        raw = e.read().decode("utf-8", "replace")
        retry = _retry_after(e.headers)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            return error_from_problem(body, status=e.code, retry_after=retry)
        return VeilboxError(
            code=None,
            title=e.reason if isinstance(e.reason, str) else "HTTP error",
            detail=raw[:500],
            status=e.code,
            retry_after=retry,
        )

    # -- catalog, grants, identity -----------------------------------------

    def me(self) -> Dict[str, Any]:
        """Which principal, name and role this key speaks for (``GET /v1/me``)."""
        return self._request("GET", "/v1/me")

    def datasets(self) -> List[Dict[str, Any]]:
        """The datasets this key may see, each with its columns and their policies (``GET /v1/datasets``)."""
        return list(self._request("GET", "/v1/datasets")["datasets"])

    def grants(self) -> List[Dict[str, Any]]:
        """This analyst's grants, each with its dataset(s) and ``budget`` (``GET /v1/grants``)."""
        return list(self._request("GET", "/v1/grants")["grants"])

    def grant(self, grant_id: str) -> Dict[str, Any]:
        """One grant, with its budget spent and remaining (``GET /v1/grants/{id}``)."""
        return self._request("GET", "/v1/grants/" + urllib.parse.quote(grant_id, safe=""))

    def receipt_keys(self) -> Dict[str, Any]:
        """The public keys that sign receipts, ``{"keys": [{"keyId", "algorithm", "publicKey", "createdAt"}]}``;
        needs no key (``GET /v1/receipts/keys``). Pass it to :meth:`Receipt.verify`."""
        return self._request("GET", "/v1/receipts/keys", auth=False)

    def public_key(self) -> str:
        """The current receipt-signing public key, PEM (the first of :meth:`receipt_keys`)."""
        return str(self.receipt_keys()["keys"][0]["publicKey"])

    # -- queries -------------------------------------------------------------

    @staticmethod
    def _query_body(
        sql: str,
        grant: str,
        epsilon: float,
        mechanism: Optional[str],
        confidence: Optional[float],
        delta: Optional[float],
        weights: Optional[Sequence[float]],
        version: Optional[int],
    ) -> Dict[str, Any]:
        body: Dict[str, Any] = {"sql": sql, "grant": grant, "epsilon": epsilon}
        if mechanism is not None:
            body["mechanism"] = mechanism
        if confidence is not None:
            body["confidence"] = confidence
        if delta is not None:
            body["delta"] = delta
        if weights is not None:
            body["weights"] = list(weights)
        if version is not None:
            body["version"] = version
        return body

    def preview(
        self,
        sql: str,
        *,
        grant: str,
        epsilon: float,
        mechanism: Optional[str] = None,
        confidence: Optional[float] = None,
        delta: Optional[float] = None,
        weights: Optional[Sequence[float]] = None,
        version: Optional[int] = None,
    ) -> Preview:
        """Price a query without running it (``POST /v1/queries/preview``): the charge, the expected
        errors and the budget before and after. Computes and spends nothing.

        A query the budget cannot pay still previews (``affordable`` is ``False``, ``refusal`` says why);
        a query that is invalid raises, as :meth:`query` would.
        """
        body = self._query_body(sql, grant, epsilon, mechanism, confidence, delta, weights, version)
        return Preview(self._request("POST", "/v1/queries/preview", body))

    def query(
        self,
        sql: str,
        *,
        grant: str,
        epsilon: float,
        mechanism: Optional[str] = None,
        confidence: Optional[float] = None,
        delta: Optional[float] = None,
        weights: Optional[Sequence[float]] = None,
        version: Optional[int] = None,
    ) -> Answer:
        """Run an aggregate query inside a grant (``POST /v1/queries``).

        Args:
            sql: the query, in veilbox's SQL subset.
            grant: the grant it runs in (``g_...``).
            epsilon: the privacy budget of this answer (> 0), charged to the grant and the dataset.
            mechanism: ``"laplace"`` (server default) or ``"gaussian"``.
            confidence: the intervals' level (server default 0.95).
            delta: Gaussian, or partition selection: the delta (default the grant's).
            weights: how the epsilon is split across the aggregates (default evenly).
            version: the dataset version (default the latest).

        Returns:
            the :class:`Answer`. The same query in the same grant returns the stored answer, free
            (``cached`` is ``True``).

        Raises:
            BudgetExhausted: the grant or dataset cannot pay; nothing was computed or charged.
            QueryError: the SQL is not valid or not allowed (``position`` says where).
            PolicyError: the grant does not allow it.
            VeilboxError: any other refusal.
        """
        body = self._query_body(sql, grant, epsilon, mechanism, confidence, delta, weights, version)
        return Answer(self._request("POST", "/v1/queries", body))

    def answer(self, query_id: str) -> Answer:
        """A released answer again, free (``GET /v1/queries/{id}``)."""
        return Answer(self._request("GET", "/v1/queries/" + urllib.parse.quote(query_id, safe="")))
