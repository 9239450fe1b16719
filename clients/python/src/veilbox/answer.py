"""Answers and previews, as the service returns them, with a DataFrame view."""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Mapping, Optional

from .errors import MissingDependency
from .receipt import Receipt

__all__ = ["Answer", "Preview"]


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as e:
        raise MissingDependency(
            "Answer.to_pandas() needs pandas, which is not installed: install it "
            "(Debian/Ubuntu: apt-get install python3-pandas; elsewhere: pip install pandas), "
            "or use Answer.to_records() for the same table as a list of dicts."
        ) from e
    return pandas


class Answer:
    """A released answer (``POST /v1/queries``): noisy aggregates, their intervals, what it cost.

    Attributes:
        raw: the answer's JSON as the server sent it.
        columns: output column names, in order.
        rows: one list per row, in ``columns`` order.
        intervals: parallel to ``rows``: ``None`` for a group column, ``[lo, hi]`` for an aggregate.
        confidence: the intervals' level (0.95 unless asked otherwise).
        privacy: the mechanism, epsilon, delta (and rho), each aggregate's part and
            noise scale, and ``charged``: what this response took from the grant and the dataset.
        remaining: the grant's remaining budget after this answer, ``{"epsilon", "delta"}``.
        cached: ``True`` when this is the stored answer of the same query, returned free.
        receipt: the signed :class:`~veilbox.Receipt`; ``receipt.verify(public_key)`` checks it
            and that these columns, rows and intervals are the ones it was signed for.
    """

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw: Dict[str, Any] = copy.deepcopy(dict(raw))
        self.columns: List[str] = list(self.raw["columns"])
        self.rows: List[List[Any]] = [list(r) for r in self.raw["rows"]]
        self.intervals: List[List[Optional[List[float]]]] = [
            [None if c is None else list(c) for c in row] for row in self.raw["intervals"]
        ]
        self.confidence: float = self.raw["confidence"]
        self.privacy: Dict[str, Any] = self.raw["privacy"]
        self.remaining: Dict[str, float] = self.raw["budget"]["remaining"]
        self.cached: bool = bool(self.raw["cached"])
        self.receipt = Receipt(
            self.raw["receipt"],
            released={
                "columns": self.raw["columns"],
                "rows": self.raw["rows"],
                "intervals": self.raw["intervals"],
                "confidence": self.raw["confidence"],
            },
        )

    @property
    def query_id(self) -> str:
        """The answer's id (``q_...``); :meth:`veilbox.Client.answer` reads it again, free."""
        return str(self.raw["queryId"])

    @property
    def grant(self) -> str:
        """The grant it ran in."""
        return str(self.raw["grant"])

    @property
    def dataset(self) -> str:
        """The dataset it read (a join's first one; ``raw["datasets"]`` lists them all)."""
        return str(self.raw["dataset"])

    @property
    def version(self) -> int:
        """The dataset version it read."""
        return int(self.raw["version"])

    @property
    def charged(self) -> Dict[str, Any]:
        """What this response took: ``{"grant": {"epsilon", "delta"}, "dataset": {...}}`` (zeros when cached)."""
        return self.privacy["charged"]

    @property
    def aggregate_columns(self) -> List[str]:
        """The output columns that are aggregates (they have intervals); the others are GROUP BY keys."""
        named = {a.get("name") for a in self.privacy.get("perAggregate", [])}
        out = []
        for i, name in enumerate(self.columns):
            if name in named or any(row[i] is not None for row in self.intervals):
                out.append(name)
        return out

    def _table_columns(self) -> List[str]:
        aggs = set(self.aggregate_columns)
        out: List[str] = []
        for name in self.columns:
            out.append(name)
            if name in aggs:
                out += [f"{name}_lo", f"{name}_hi"]
        return out

    def to_records(self) -> List[Dict[str, Any]]:
        """The answer as a list of dicts, one per row: each output column, plus ``<col>_lo`` and
        ``<col>_hi`` for every aggregate (``None`` where the server sent no interval). Needs no pandas."""
        aggs = set(self.aggregate_columns)
        records = []
        for row, ivs in zip(self.rows, self.intervals):
            rec: Dict[str, Any] = {}
            for name, value, iv in zip(self.columns, row, ivs):
                rec[name] = value
                if name in aggs:
                    rec[f"{name}_lo"] = iv[0] if iv is not None else None
                    rec[f"{name}_hi"] = iv[1] if iv is not None else None
            records.append(rec)
        return records

    def to_pandas(self) -> Any:
        """The answer as a ``pandas.DataFrame``: one column per output column, and right after
        every aggregate its interval's bounds as ``<col>_lo`` and ``<col>_hi``.

        Raises:
            MissingDependency: pandas is not installed (the message says how to install it).
        """
        pd = _pandas()
        return pd.DataFrame.from_records(self.to_records(), columns=self._table_columns())

    def __repr__(self) -> str:
        return (
            f"Answer(query_id={self.query_id!r}, columns={self.columns!r}, rows={len(self.rows)}, "
            f"epsilon={self.privacy.get('epsilon')!r}, cached={self.cached!r})"
        )


class Preview:
    """What a query would cost and how precise it would be (``POST /v1/queries/preview``); nothing spent.

    Attributes:
        raw: the preview's JSON as the server sent it.
        charge: what a fresh answer would take, ``{"grant": {"epsilon", "delta"}, "dataset": {...}}``
            (zeros when the same query's stored answer would be returned).
        expected_errors: each aggregate's expected interval half-width at the query's confidence,
            by output name; ``None`` for ratios and quantiles, whose width depends on the data.
        remaining: the grant's remaining budget now, ``{"epsilon", "delta"}``.
        remaining_after: the grant's remaining budget after a fresh answer.
        affordable: whether both the grant and the dataset can pay.
        refusal: when not affordable, ``{"code", "detail", "scope"}`` of the refusal the query would get.
        privacy: the mechanism, epsilon and each aggregate's part and noise scale.
        cached: whether a stored answer of the same query exists (a repeat is free).
    """

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw: Dict[str, Any] = copy.deepcopy(dict(raw))
        self.charge: Dict[str, Dict[str, float]] = self.raw["charge"]
        self.privacy: Dict[str, Any] = self.raw["privacy"]
        self.expected_errors: Dict[str, Optional[float]] = {
            a["name"]: a.get("halfWidth") for a in self.privacy.get("perAggregate", [])
        }
        budget = self.raw["budget"]
        self.remaining: Dict[str, float] = budget["remaining"]
        self.remaining_after: Dict[str, float] = budget["remainingAfter"]
        self.dataset_remaining: Dict[str, float] = budget["dataset"]["remaining"]
        self.affordable: bool = bool(self.raw.get("affordable", True))
        self.refusal: Optional[Dict[str, Any]] = self.raw.get("refusal")
        self.cached: bool = bool(self.raw.get("cached", False))
        self.confidence: float = self.raw["confidence"]

    def __repr__(self) -> str:
        return (
            f"Preview(charge={self.charge['grant']!r}, expected_errors={self.expected_errors!r}, "
            f"remaining={self.remaining!r}, affordable={self.affordable!r})"
        )
