"""The walkthrough of docs/python.md: a grouped query, its DataFrame, a chart with error bars, the budget.

Against a running service (``npm start``), with the demo analyst's key and grant:

    VEILBOX_URL=http://127.0.0.1:8080 \\
    VEILBOX_API_KEY=$(node -p "require('./data/demo-keys.json').analyst") \\
    VEILBOX_GRANT=$(node -p "require('./data/demo-keys.json').grant") \\
    /usr/bin/python3 clients/python/examples/walkthrough.py

or on a fresh demo server of its own (what docs/python.md shows):

    PYTHONPATH=clients/python/src /usr/bin/python3 clients/python/examples/walkthrough.py --fresh

It prints each step's output and writes the chart to docs/img/python-income-by-district.png
(``--png`` to choose another file). The noise differs on every fresh run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent / "src"))

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # no display: write a file
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import veilbox  # noqa: E402

# The chart's labels: the districts' names in pinyin, so the PNG needs no CJK font.
PINYIN = {
    "滨城区": "Bincheng",
    "沾化区": "Zhanhua",
    "惠民县": "Huimin",
    "阳信县": "Yangxin",
    "无棣县": "Wudi",
    "博兴县": "Boxing",
    "邹平市": "Zouping",
}


def step(title: str) -> None:
    print(f"\n### {title}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fresh", action="store_true", help="start a fresh demo server (tests/server.py) and use it")
    parser.add_argument("--png", default=str(ROOT / "docs" / "img" / "python-income-by-district.png"))
    args = parser.parse_args()

    server = None
    if args.fresh:
        sys.path.insert(0, str(HERE.parent / "tests"))
        from server import DemoServer

        server = DemoServer().start()
        os.environ["VEILBOX_URL"] = server.url
        os.environ["VEILBOX_API_KEY"] = server.keys["analyst"]
        os.environ["VEILBOX_GRANT"] = server.keys["grant"]
    try:
        run(os.environ["VEILBOX_GRANT"], Path(args.png))
    finally:
        if server is not None:
            server.stop()


def run(grant: str, png: Path) -> None:
    pd.set_option("display.width", 160)
    pd.set_option("display.max_columns", None)
    pd.set_option("display.float_format", lambda x: f"{x:,.1f}")

    step("1. Connect, list datasets and grants")
    vb = veilbox.Client()  # VEILBOX_URL, VEILBOX_API_KEY
    print([d["id"] for d in vb.datasets()])
    for g in vb.grants():
        print(g["id"], g["dataset"], "epsilon left:", g["budget"]["epsilon"]["remaining"])

    sql = (
        "SELECT district, COUNT(*) AS households, AVG(income) AS avg_income "
        "FROM binzhou_households GROUP BY district"
    )

    step("2. Preview: the charge, the expected errors, the budget after")
    p = vb.preview(sql, grant=grant, epsilon=0.2)
    print("charge:         ", p.charge)
    print("expected errors:", p.expected_errors)
    print("remaining:      ", p.remaining)
    print("remaining after:", p.remaining_after)

    step("3. Query, and the answer as a DataFrame")
    ans = vb.query(sql, grant=grant, epsilon=0.2)
    df = ans.to_pandas()
    print(df)

    step("4. What it cost and what is left")
    print("cached:  ", ans.cached)
    print("charged: ", ans.privacy["charged"])
    print("remaining:", ans.remaining)

    step("5. The same query again: the stored answer, free")
    again = vb.query(sql, grant=grant, epsilon=0.2)
    print("cached:  ", again.cached, " charged:", again.privacy["charged"]["grant"], " remaining:", again.remaining)
    print("same rows:", again.rows == ans.rows)

    step("6. A bar chart with the 95% intervals as error bars")
    labels = [PINYIN.get(d, d) for d in df["district"]]
    yerr = [df["avg_income"] - df["avg_income_lo"], df["avg_income_hi"] - df["avg_income"]]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.bar(labels, df["avg_income"], yerr=yerr, capsize=5, color="#4c72b0", ecolor="#333333")
    ax.set_ylabel("average household income (yuan)")
    ax.set_title(f"Average income by district, epsilon {ans.privacy['epsilon']}, {ans.confidence:.0%} intervals")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, metadata={"Software": None})
    print("wrote", png.relative_to(ROOT) if png.is_relative_to(ROOT) else png)

    step("7. Check the receipt against the published key")
    keys = vb.receipt_keys()
    print("verified:", ans.receipt.verify(keys))
    print("key:     ", ans.receipt.key_id)

    step("8. Asking for more than is left")
    left = vb.grant(grant)["budget"]["epsilon"]["remaining"]
    try:
        vb.query("SELECT COUNT(*) FROM binzhou_households", grant=grant, epsilon=left + 1)
    except veilbox.BudgetExhausted as e:
        print(type(e).__name__, e.code, e.status)
        print("scope:    ", e.scope)
        print("requested:", e.requested)
        print("spent:    ", e.spent)
        print("total:    ", e.total)
        print("remaining:", e.remaining)

    step("9. The budget afterwards")
    g = vb.grant(grant)
    print("epsilon:", g["budget"]["epsilon"])
    print("delta:  ", g["budget"]["delta"])


if __name__ == "__main__":
    main()
