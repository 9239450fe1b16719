"""veilbox: a Python client for the veilbox differential-privacy query service.

>>> import veilbox                                        # doctest: +SKIP
>>> vb = veilbox.Client()   # VEILBOX_URL, VEILBOX_API_KEY   # doctest: +SKIP
>>> ans = vb.query("SELECT district, COUNT(*) FROM binzhou_households GROUP BY district",
...                grant="g_...", epsilon=0.1)            # doctest: +SKIP
>>> ans.to_pandas()                                       # doctest: +SKIP

HTTP goes through the standard library; pandas is needed only for
:meth:`Answer.to_pandas`, and ``cryptography`` only for :meth:`Receipt.verify`.
"""

from .answer import Answer, Preview
from .client import Client
from .errors import (
    AnswerError,
    ApiKeyError,
    AuthError,
    AuthRateLimited,
    BudgetError,
    BudgetExhausted,
    ConfigError,
    ConnectionFailed,
    CustodianError,
    DatasetError,
    DpError,
    ExecError,
    HeError,
    IngestError,
    InternalError,
    MarketError,
    MissingDependency,
    NativeError,
    PolicyError,
    QueryError,
    RateLimited,
    RequestError,
    SandboxError,
    SandboxTimeout,
    SourceError,
    StoreError,
    VeilboxError,
    error_class,
    error_from_problem,
)
from .receipt import Receipt, ReceiptCheck, result_hash

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Answer",
    "Preview",
    "Receipt",
    "ReceiptCheck",
    "result_hash",
    "VeilboxError",
    "ConnectionFailed",
    "MissingDependency",
    "AuthError",
    "AuthRateLimited",
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
