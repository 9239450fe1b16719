"""Typed exceptions for veilbox's ``application/problem+json`` refusals.

Every error the service returns carries a stable ``code``
(``VEILBOX_ERR_...``, listed in the service's ``docs/errors.md``), a
``title``, a ``detail``, the HTTP ``status`` and the request id
(``instance``); some codes add fields of their own (``position`` for query
errors, ``requested``/``spent``/``total``/``remaining`` for the budget).
:func:`error_from_problem` turns such a body into an instance of the class
for its code: a specific one where a code has fields worth naming
(:class:`BudgetExhausted`, :class:`SandboxTimeout`, :class:`RateLimited`),
otherwise the class of the code's area (``VEILBOX_ERR_QUERY_*`` is a
:class:`QueryError`, ``VEILBOX_ERR_POLICY_*`` a :class:`PolicyError`, ...).
All of them are :class:`VeilboxError`, so one ``except VeilboxError`` catches
every refusal; branch on ``.code``, never on ``.title`` or ``.detail``.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Type

__all__ = [
    "VeilboxError",
    "ConnectionFailed",
    "MissingDependency",
    "AuthError",
    "RequestError",
    "RateLimited",
    "ConfigError",
    "StoreError",
    "ApiKeyError",
    "DatasetError",
    "SourceError",
    "IngestError",
    "QueryError",
    "ExecError",
    "DpError",
    "PolicyError",
    "MarketError",
    "BudgetError",
    "BudgetExhausted",
    "AnswerError",
    "HeError",
    "CustodianError",
    "SandboxError",
    "SandboxTimeout",
    "NativeError",
    "InternalError",
    "error_class",
    "error_from_problem",
]

_STANDARD = ("type", "title", "status", "detail", "code", "instance")


class VeilboxError(Exception):
    """A refusal from veilbox (or a failure to reach it).

    Attributes:
        code: the stable error code, e.g. ``"VEILBOX_ERR_QUERY_SYNTAX"``;
            ``None`` when the answer was not problem+json (a proxy's page).
        title: the code's short title.
        detail: what went wrong in this request, and usually what to do.
        status: the HTTP status (``None`` when no answer arrived).
        instance: the request id, to quote when reporting a 5xx.
        fields: every other member of the problem+json body (``position``,
            ``scope``, ``requested``, ``errors``, ``suggestion``, ...). They
            can also be read as attributes: ``err.suggestion``.
        retry_after: seconds from the ``Retry-After`` header, when sent.
    """

    def __init__(
        self,
        code: Optional[str],
        title: str,
        detail: str,
        status: Optional[int] = None,
        instance: Optional[str] = None,
        fields: Optional[Mapping[str, Any]] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        self.code = code
        self.title = title
        self.detail = detail
        self.status = status
        self.instance = instance
        self.fields: Dict[str, Any] = dict(fields or {})
        self.retry_after = retry_after
        super().__init__(self._message())

    def _message(self) -> str:
        head = f"{self.code}: " if self.code else ""
        status = f" (HTTP {self.status})" if self.status is not None else ""
        text = self.detail or self.title
        if self.title and self.detail and self.title not in self.detail:
            text = f"{self.title}: {self.detail}"
        return f"{head}{text}{status}"

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: the problem's extra fields.
        fields = self.__dict__.get("fields")
        if fields is not None and name in fields:
            return fields[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or problem field {name!r}")

    def __reduce__(self):  # keep pickling (multiprocessing) working with the custom __init__
        return (
            _rebuild,
            (type(self), self.code, self.title, self.detail, self.status, self.instance, self.fields, self.retry_after),
        )


def _rebuild(cls: Type[VeilboxError], *args: Any) -> VeilboxError:
    return cls(*args)


class ConnectionFailed(VeilboxError):
    """The service could not be reached (refused, timed out, DNS); ``code`` is ``None``."""


class MissingDependency(ImportError):
    """An optional package (pandas, cryptography) is needed for what was asked and is not installed."""


class AuthError(VeilboxError):
    """``VEILBOX_ERR_AUTH_*``: the key is missing, unknown or revoked, or its role may not do this."""


class RequestError(VeilboxError):
    """``VEILBOX_ERR_REQUEST_*``: the HTTP request itself (schema, JSON, size, route, rate)."""


class RateLimited(RequestError):
    """Too many requests (``REQUEST_RATE_LIMITED``, ``REQUEST_TOO_MANY_OPEN``, ``AUTH_TOO_MANY_FAILURES``); wait ``retry_after`` seconds."""


class ConfigError(VeilboxError):
    """``VEILBOX_ERR_CONFIG_*``: the service's configuration."""


class StoreError(VeilboxError):
    """``VEILBOX_ERR_STORE_*``: the database did not answer; nothing changed, retry."""


class ApiKeyError(VeilboxError):
    """``VEILBOX_ERR_KEY_*``: API key management (a name taken, no such key)."""


class DatasetError(VeilboxError):
    """``VEILBOX_ERR_DATASET_*``: no such dataset or version, or a bad definition."""


class SourceError(VeilboxError):
    """``VEILBOX_ERR_SOURCE_*``: datasets whose rows stay at the owner's source."""


class IngestError(VeilboxError):
    """``VEILBOX_ERR_INGEST_*``: an upload was refused; ``row``, ``line`` and ``column`` say where."""


class QueryError(VeilboxError):
    """``VEILBOX_ERR_QUERY_*``: the query text or tree; ``position`` (offset, line, column) says where when known."""

    @property
    def position(self) -> Optional[Dict[str, int]]:
        """``{"offset", "line", "column"}`` of the offending token, or ``None``."""
        p = self.fields.get("position")
        return p if isinstance(p, dict) else None


class ExecError(VeilboxError):
    """``VEILBOX_ERR_EXEC_*``: the query's execution (too many groups, ...)."""


class DpError(VeilboxError):
    """``VEILBOX_ERR_DP_*``: a privacy parameter (epsilon, delta, confidence, weights) is out of range."""


class PolicyError(VeilboxError):
    """``VEILBOX_ERR_POLICY_*``: the grant does not allow the query (not yours, revoked, expired, column, aggregate)."""


class MarketError(VeilboxError):
    """``VEILBOX_ERR_MARKET_*``: the data market (applications, levels, money caps)."""


class BudgetError(VeilboxError):
    """``VEILBOX_ERR_BUDGET_*``: privacy budgets."""


class BudgetExhausted(BudgetError):
    """``VEILBOX_ERR_BUDGET_EXHAUSTED``: the query costs more than is left; nothing was computed or charged.

    ``scope`` is ``"grant"`` or ``"dataset"``: which ledger refused. Each of
    ``requested``, ``spent``, ``total`` and ``remaining`` is a dict
    ``{"epsilon": float, "delta": float}`` (a Gaussian query refused for want
    of delta has ``requested = {"rho": ...}`` and no ``spent``/``total``/``remaining``
    beyond what the server sent).
    """

    @property
    def scope(self) -> Optional[str]:
        """``"grant"`` or ``"dataset"``."""
        return self.fields.get("scope")

    @property
    def requested(self) -> Optional[Dict[str, float]]:
        """What the query would have cost."""
        return self.fields.get("requested")

    @property
    def spent(self) -> Optional[Dict[str, float]]:
        """What the refusing ledger has spent."""
        return self.fields.get("spent")

    @property
    def total(self) -> Optional[Dict[str, float]]:
        """The refusing ledger's total budget."""
        return self.fields.get("total")

    @property
    def remaining(self) -> Optional[Dict[str, float]]:
        """What the refusing ledger has left."""
        return self.fields.get("remaining")


class AnswerError(VeilboxError):
    """``VEILBOX_ERR_ANSWER_*``: no released answer with this id among yours."""


class HeError(VeilboxError):
    """``VEILBOX_ERR_HE_*``: homomorphically encrypted columns."""


class CustodianError(VeilboxError):
    """``VEILBOX_ERR_CUSTODIAN_*``: the HE key custodian."""


class SandboxError(VeilboxError):
    """``VEILBOX_ERR_SANDBOX_*``: the query's sandbox (busy, out of memory, crashed, too large)."""


class SandboxTimeout(SandboxError):
    """``VEILBOX_ERR_SANDBOX_TIMEOUT``: the query ran past its deadline; its privacy cost WAS charged (``charged``, ``remaining``)."""


class NativeError(VeilboxError):
    """``VEILBOX_ERR_NATIVE_*``: the native aggregate kernel."""


class InternalError(VeilboxError):
    """``VEILBOX_ERR_INTERNAL``: something failed inside veilbox; quote ``instance`` when reporting it."""


_BY_CODE: Dict[str, Type[VeilboxError]] = {
    "VEILBOX_ERR_BUDGET_EXHAUSTED": BudgetExhausted,
    "VEILBOX_ERR_SANDBOX_TIMEOUT": SandboxTimeout,
    "VEILBOX_ERR_REQUEST_RATE_LIMITED": RateLimited,
    "VEILBOX_ERR_REQUEST_TOO_MANY_OPEN": RateLimited,
    "VEILBOX_ERR_INTERNAL": InternalError,
}

_BY_AREA: Dict[str, Type[VeilboxError]] = {
    "AUTH": AuthError,
    "REQUEST": RequestError,
    "CONFIG": ConfigError,
    "STORE": StoreError,
    "KEY": ApiKeyError,
    "DATASET": DatasetError,
    "SOURCE": SourceError,
    "INGEST": IngestError,
    "QUERY": QueryError,
    "EXEC": ExecError,
    "DP": DpError,
    "POLICY": PolicyError,
    "MARKET": MarketError,
    "BUDGET": BudgetError,
    "ANSWER": AnswerError,
    "HE": HeError,
    "CUSTODIAN": CustodianError,
    "SANDBOX": SandboxError,
    "NATIVE": NativeError,
}


def error_class(code: Optional[str]) -> Type[VeilboxError]:
    """The exception class for an error code: its own, else its area's, else :class:`VeilboxError`.

    ``VEILBOX_ERR_AUTH_TOO_MANY_FAILURES`` is both an :class:`AuthError` and a
    :class:`RateLimited`.
    """
    if not code:
        return VeilboxError
    if code in _BY_CODE:
        return _BY_CODE[code]
    if code == "VEILBOX_ERR_AUTH_TOO_MANY_FAILURES":
        return AuthRateLimited
    prefix = "VEILBOX_ERR_"
    if code.startswith(prefix):
        area = code[len(prefix) :].split("_", 1)[0]
        return _BY_AREA.get(area, VeilboxError)
    return VeilboxError


class AuthRateLimited(AuthError, RateLimited):
    """``VEILBOX_ERR_AUTH_TOO_MANY_FAILURES``: too many requests with a missing or invalid key from this address."""


__all__.append("AuthRateLimited")


def error_from_problem(
    body: Mapping[str, Any], status: Optional[int] = None, retry_after: Optional[float] = None
) -> VeilboxError:
    """The typed exception for a problem+json body (as parsed JSON)."""
    code = body.get("code") if isinstance(body.get("code"), str) else None
    cls = error_class(code)
    raw_status = body.get("status")
    return cls(
        code=code,
        title=str(body.get("title") or ""),
        detail=str(body.get("detail") or ""),
        status=raw_status if isinstance(raw_status, int) else status,
        instance=body.get("instance") if isinstance(body.get("instance"), str) else None,
        fields={k: v for k, v in body.items() if k not in _STANDARD},
        retry_after=retry_after,
    )
