"""The Python client against a real veilbox server (``veilbox serve --demo``, started here).

Run from the repository root with Debian's Python (it has pandas, matplotlib
and cryptography from apt):

    PYTHONPATH=clients/python/src /usr/bin/python3 -m unittest discover -s clients/python/tests -v
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unittest
from pathlib import Path
from typing import Any, Dict
from unittest import mock

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))
sys.path.insert(0, str(HERE))

import veilbox  # noqa: E402
from server import ROOT, NODE, DemoServer, free_port  # noqa: E402
from veilbox._canonical import canonical_json, js_number  # noqa: E402

SERVER: DemoServer
GROUPED = "SELECT district, COUNT(*), AVG(income) FROM binzhou_households GROUP BY district"


def setUpModule() -> None:
    global SERVER
    SERVER = DemoServer().start()


def tearDownModule() -> None:
    SERVER.stop()


def analyst() -> veilbox.Client:
    return veilbox.Client(SERVER.url, SERVER.keys["analyst"])


def demo_grant(vb: veilbox.Client) -> Dict[str, Any]:
    return next(g for g in vb.grants() if g["id"] == SERVER.keys["grant"])


class Catalog(unittest.TestCase):
    def test_datasets_lists_the_demo_datasets_with_their_columns(self) -> None:
        datasets = {d["id"]: d for d in analyst().datasets()}
        self.assertIn("binzhou_households", datasets)
        columns = {c["name"]: c for c in datasets["binzhou_households"]["columns"]}
        self.assertIn("income", columns)
        self.assertEqual(columns["district"]["type"], "category")
        self.assertEqual(len(columns["district"]["categories"]), 7)

    def test_grants_lists_the_analysts_grants_with_their_budgets(self) -> None:
        grants = {g["id"]: g for g in analyst().grants()}
        self.assertIn(SERVER.keys["grant"], grants)
        self.assertIn(SERVER.keys["claimsGrant"], grants)
        g = grants[SERVER.keys["grant"]]
        self.assertEqual(g["dataset"], "binzhou_households")
        self.assertGreater(g["budget"]["epsilon"]["total"], 0)

    def test_receipt_keys_are_public_ed25519(self) -> None:
        keys = veilbox.Client(SERVER.url, "not-a-key").receipt_keys()["keys"]
        self.assertEqual(keys[0]["algorithm"], "Ed25519")
        self.assertTrue(keys[0]["publicKey"].startswith("-----BEGIN PUBLIC KEY-----"))


class Environment(unittest.TestCase):
    def test_client_reads_url_and_key_from_the_environment(self) -> None:
        env = {"VEILBOX_URL": SERVER.url + "/", "VEILBOX_API_KEY": SERVER.keys["analyst"]}
        with mock.patch.dict(os.environ, env):
            vb = veilbox.Client()
            me = vb.me()
            self.assertEqual(veilbox.Client.from_env().url, SERVER.url)
        self.assertEqual(vb.url, SERVER.url)
        self.assertEqual(me["role"], "analyst")
        self.assertNotIn(SERVER.keys["analyst"], repr(vb))

    def test_missing_environment_says_which_variable(self) -> None:
        with mock.patch.dict(os.environ, {"VEILBOX_URL": SERVER.url}, clear=True):
            with self.assertRaisesRegex(ValueError, "VEILBOX_API_KEY"):
                veilbox.Client()
        with mock.patch.dict(os.environ, {"VEILBOX_API_KEY": "vbx_x"}, clear=True):
            with self.assertRaisesRegex(ValueError, "VEILBOX_URL"):
                veilbox.Client()

    def test_explicit_arguments_win_over_the_environment(self) -> None:
        with mock.patch.dict(os.environ, {"VEILBOX_URL": "http://127.0.0.1:9", "VEILBOX_API_KEY": "wrong"}):
            vb = veilbox.Client(SERVER.url, SERVER.keys["analyst"])
            self.assertEqual(vb.me()["role"], "analyst")


class Queries(unittest.TestCase):
    def test_preview_gives_the_charge_the_expected_errors_and_the_budget_and_spends_nothing(self) -> None:
        vb = analyst()
        before = demo_grant(vb)["budget"]["epsilon"]
        p = vb.preview(
            "SELECT district, COUNT(*), SUM(income) FROM binzhou_households GROUP BY district",
            grant=SERVER.keys["grant"],
            epsilon=0.3,
        )
        self.assertTrue(p.affordable)
        self.assertIsNone(p.refusal)
        self.assertEqual(p.charge["grant"]["epsilon"], 0.3)
        self.assertEqual(p.charge["dataset"]["epsilon"], 0.3)
        self.assertEqual(set(p.expected_errors), {"count", "sum_income"})
        self.assertIsInstance(p.expected_errors["count"], (int, float))
        self.assertGreater(p.expected_errors["count"], 0)
        self.assertGreater(p.expected_errors["sum_income"], p.expected_errors["count"])
        self.assertEqual(p.remaining["epsilon"], before["remaining"])
        self.assertAlmostEqual(p.remaining_after["epsilon"], before["remaining"] - 0.3, places=6)
        after = demo_grant(vb)["budget"]["epsilon"]
        self.assertEqual(after["spent"], before["spent"], "a preview must not charge")

    def test_preview_of_an_unaffordable_query_says_so(self) -> None:
        vb = analyst()
        left = demo_grant(vb)["budget"]["epsilon"]["remaining"]
        p = vb.preview("SELECT COUNT(*) FROM binzhou_households", grant=SERVER.keys["grant"], epsilon=left + 1)
        self.assertFalse(p.affordable)
        self.assertEqual(p.refusal["code"], "VEILBOX_ERR_BUDGET_EXHAUSTED")

    def test_query_to_pandas_has_every_column_and_its_interval(self) -> None:
        vb = analyst()
        before = demo_grant(vb)["budget"]["epsilon"]
        ans = vb.query(GROUPED, grant=SERVER.keys["grant"], epsilon=0.2)
        self.assertFalse(ans.cached)
        self.assertEqual(ans.columns, ["district", "count", "avg_income"])
        self.assertEqual(ans.aggregate_columns, ["count", "avg_income"])
        self.assertEqual(ans.privacy["epsilon"], 0.2)
        self.assertEqual(ans.charged["grant"]["epsilon"], 0.2)
        after = demo_grant(vb)["budget"]["epsilon"]
        self.assertAlmostEqual(after["spent"], before["spent"] + 0.2, places=6)
        self.assertEqual(ans.remaining["epsilon"], after["remaining"])

        df = ans.to_pandas()
        self.assertEqual(
            list(df.columns),
            ["district", "count", "count_lo", "count_hi", "avg_income", "avg_income_lo", "avg_income_hi"],
        )
        districts = next(
            c["categories"]
            for d in vb.datasets()
            if d["id"] == "binzhou_households"
            for c in d["columns"]
            if c["name"] == "district"
        )
        self.assertEqual(list(df["district"]), districts)
        self.assertEqual(len(df), len(ans.rows))
        for i, (row, ivs) in enumerate(zip(ans.rows, ans.intervals)):
            self.assertEqual(df["count"][i], row[1])
            self.assertEqual(df["avg_income"][i], row[2])
            self.assertEqual([df["count_lo"][i], df["count_hi"][i]], ivs[1])
            self.assertEqual([df["avg_income_lo"][i], df["avg_income_hi"][i]], ivs[2])
            self.assertLessEqual(df["count_lo"][i], df["count"][i])
            self.assertLessEqual(df["count"][i], df["count_hi"][i])
            self.assertLessEqual(df["avg_income_lo"][i], df["avg_income"][i])
            self.assertLessEqual(df["avg_income"][i], df["avg_income_hi"][i])
        # 100,000 households in all; each count is within a few hundred of its share.
        self.assertTrue(99_000 < df["count"].sum() < 101_000, df["count"].sum())

        records = ans.to_records()
        self.assertEqual(records[0]["district"], districts[0])
        self.assertEqual(records[0]["count_lo"], ans.intervals[0][1][0])

    def test_query_without_group_by_and_options_passed_through(self) -> None:
        ans = analyst().query(
            "SELECT COUNT(*) AS households FROM binzhou_households",
            grant=SERVER.keys["grant"],
            epsilon=0.15,
            mechanism="gaussian",
            confidence=0.9,
        )
        self.assertEqual(ans.privacy["mechanism"], "gaussian")
        self.assertEqual(ans.confidence, 0.9)
        df = ans.to_pandas()
        self.assertEqual(list(df.columns), ["households", "households_lo", "households_hi"])
        self.assertEqual(len(df), 1)
        self.assertLessEqual(df["households_lo"][0], df["households"][0])

    def test_the_same_query_again_is_the_stored_answer_free(self) -> None:
        vb = analyst()
        sql = "SELECT insured, COUNT(*) FROM binzhou_households GROUP BY insured"
        first = vb.query(sql, grant=SERVER.keys["grant"], epsilon=0.25)
        second = vb.query(sql, grant=SERVER.keys["grant"], epsilon=0.25)
        self.assertFalse(first.cached)
        self.assertTrue(second.cached)
        self.assertEqual(second.query_id, first.query_id)
        self.assertEqual(second.rows, first.rows)
        self.assertEqual(second.charged["grant"]["epsilon"], 0)
        self.assertEqual(second.remaining, first.remaining)
        again = vb.answer(first.query_id)
        self.assertEqual(again.rows, first.rows)


class Receipts(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        vb = analyst()
        cls.vb = vb
        cls.answer = vb.query(
            "SELECT age_band, MEDIAN(medical_spending), AVG(medical_spending) FROM binzhou_households "
            "WHERE insured = TRUE GROUP BY age_band",
            grant=SERVER.keys["grant"],
            epsilon=0.5,
        )
        cls.keys = vb.receipt_keys()

    def test_a_real_receipt_verifies(self) -> None:
        self.assertTrue(self.answer.receipt.verify(self.keys))
        self.assertTrue(self.answer.receipt.verify(self.vb.public_key()))
        self.assertEqual(self.answer.receipt.check(self.keys), veilbox.ReceiptCheck(True, None))

    def test_a_tampered_signed_field_does_not(self) -> None:
        ans = veilbox.Answer(self.answer.raw)
        ans.receipt.fields["privacy"]["epsilon"] = 0.05
        check = ans.receipt.check(self.keys)
        self.assertFalse(check.ok)
        self.assertIn("signature does not match", check.problem)

    def test_a_tampered_answer_does_not(self) -> None:
        raw = json.loads(json.dumps(self.answer.raw))
        raw["rows"][0][1] = raw["rows"][0][1] + 1
        check = veilbox.Answer(raw).receipt.check(self.keys)
        self.assertFalse(check.ok)
        self.assertIn("answer does not match", check.problem)

    def test_another_key_does_not(self) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        other = Ed25519PrivateKey.generate().public_key()
        check = self.answer.receipt.check(other)
        self.assertFalse(check.ok)
        self.assertIn(self.answer.receipt.key_id, check.problem)

    def test_a_signature_made_for_other_bytes_does_not(self) -> None:
        ans = veilbox.Answer(self.answer.raw)
        sig = bytearray(__import__("base64").b64decode(ans.receipt.fields["signature"]))
        sig[0] ^= 1
        ans.receipt.fields["signature"] = __import__("base64").b64encode(bytes(sig)).decode()
        self.assertFalse(ans.receipt.verify(self.keys))

    def test_canonical_json_is_the_servers(self) -> None:
        # What the server signed is canonicalJson(body); node's JSON.stringify is the reference for numbers.
        numbers = [0.1, 1e-7, 1.5e-7, 1e21, 1e20, 1e16, 0.000001, 0.00001, 100.0, -2.5, 98173.05682069423, 2**60, 5e-324, -0.0, 123456789.125]
        node = subprocess.run(
            [NODE, "-e", "process.stdout.write(JSON.stringify(JSON.parse(process.argv[1]).map((x) => JSON.stringify(x))))", json.dumps(numbers)],
            capture_output=True,
            check=True,
            text=True,
        )
        self.assertEqual([js_number(x) for x in numbers], json.loads(node.stdout))
        self.assertEqual(canonical_json({"b": [1, "é\n"], "a": None, "B": True}), '{"B":true,"a":null,"b":[1,"é\\n"]}')


class Errors(unittest.TestCase):
    def test_budget_exhausted_carries_its_fields(self) -> None:
        vb = analyst()
        budget = demo_grant(vb)["budget"]
        asked = budget["epsilon"]["remaining"] + 1
        with self.assertRaises(veilbox.BudgetExhausted) as cm:
            vb.query("SELECT COUNT(*) FROM binzhou_households", grant=SERVER.keys["grant"], epsilon=asked)
        e = cm.exception
        self.assertIsInstance(e, veilbox.BudgetError)
        self.assertIsInstance(e, veilbox.VeilboxError)
        self.assertEqual(e.code, "VEILBOX_ERR_BUDGET_EXHAUSTED")
        self.assertEqual(e.status, 403)
        self.assertEqual(e.title, "Not enough privacy budget left")
        self.assertIn("ask for less", e.detail)
        self.assertTrue(e.instance)
        self.assertEqual(e.scope, "grant")
        self.assertEqual(e.grant, SERVER.keys["grant"])
        self.assertAlmostEqual(e.requested["epsilon"], asked, places=6)
        self.assertEqual(e.spent["epsilon"], budget["epsilon"]["spent"])
        self.assertEqual(e.total["epsilon"], budget["epsilon"]["total"])
        self.assertEqual(e.remaining["epsilon"], budget["epsilon"]["remaining"])
        self.assertEqual(e.remaining["delta"], budget["delta"]["remaining"])
        self.assertEqual(demo_grant(vb)["budget"]["epsilon"]["spent"], budget["epsilon"]["spent"], "a refusal charges nothing")

    def test_a_sql_syntax_error_is_a_query_error_with_its_position(self) -> None:
        sql = "SELECT COUNT(* FROM binzhou_households"
        with self.assertRaises(veilbox.QueryError) as cm:
            analyst().query(sql, grant=SERVER.keys["grant"], epsilon=0.1)
        e = cm.exception
        self.assertEqual(e.code, "VEILBOX_ERR_QUERY_SYNTAX")
        self.assertEqual(e.status, 400)
        self.assertEqual(e.position["line"], 1)
        self.assertEqual(sql[e.position["offset"] :].split()[0], "FROM")
        self.assertIn("VEILBOX_ERR_QUERY_SYNTAX", str(e))

    def test_an_unknown_column_names_its_suggestion(self) -> None:
        with self.assertRaises(veilbox.QueryError) as cm:
            analyst().preview("SELECT AVG(incme) FROM binzhou_households", grant=SERVER.keys["grant"], epsilon=0.1)
        self.assertEqual(cm.exception.code, "VEILBOX_ERR_QUERY_UNKNOWN_COLUMN")
        self.assertEqual(cm.exception.suggestion, "income")

    def test_a_wrong_key_is_an_auth_error(self) -> None:
        with self.assertRaises(veilbox.AuthError) as cm:
            veilbox.Client(SERVER.url, "vbx_000000000000_nope").datasets()
        self.assertEqual(cm.exception.code, "VEILBOX_ERR_AUTH_INVALID_KEY")
        self.assertEqual(cm.exception.status, 401)

    def test_a_schema_violation_is_a_request_error_listing_the_field(self) -> None:
        with self.assertRaises(veilbox.RequestError) as cm:
            analyst().query("SELECT COUNT(*) FROM binzhou_households", grant=SERVER.keys["grant"], epsilon=-1)
        self.assertEqual(cm.exception.code, "VEILBOX_ERR_REQUEST_VALIDATION")
        self.assertEqual(cm.exception.errors[0]["path"], "body.epsilon")

    def test_an_unknown_problem_field_is_an_attribute_error(self) -> None:
        with self.assertRaises(veilbox.QueryError) as cm:
            analyst().query("SELECT COUNT(* FROM binzhou_households", grant=SERVER.keys["grant"], epsilon=0.1)
        with self.assertRaises(AttributeError):
            cm.exception.no_such_field  # noqa: B018

    def test_an_unreachable_server_is_connection_failed(self) -> None:
        with self.assertRaises(veilbox.ConnectionFailed) as cm:
            veilbox.Client(f"http://127.0.0.1:{free_port()}", "k", timeout=5).datasets()
        self.assertIsNone(cm.exception.code)

    def test_every_documented_code_has_a_typed_class(self) -> None:
        text = (ROOT / "docs" / "errors.md").read_text("utf-8")
        codes = re.findall(r"^\| `(VEILBOX_ERR_[A-Z0-9_]+)` \|", text, flags=re.M)
        self.assertGreater(len(codes), 100)
        untyped = [c for c in codes if veilbox.error_class(c) is veilbox.VeilboxError]
        self.assertEqual(untyped, [], "codes without a class of their area")
        self.assertIs(veilbox.error_class("VEILBOX_ERR_BUDGET_EXHAUSTED"), veilbox.BudgetExhausted)
        self.assertTrue(issubclass(veilbox.error_class("VEILBOX_ERR_AUTH_TOO_MANY_FAILURES"), veilbox.RateLimited))
        self.assertIs(veilbox.error_class("VEILBOX_ERR_SANDBOX_TIMEOUT"), veilbox.SandboxTimeout)


def run_without(module: str, code: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where ``import <module>`` fails, as if it were not installed."""
    prelude = f"import sys; sys.modules[{module!r}] = None; sys.path.insert(0, {str(SRC)!r})\n"
    return subprocess.run([sys.executable, "-c", prelude + code], input=stdin, capture_output=True, text=True, timeout=60)


class OptionalDependencies(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.raw = json.dumps(analyst().query(GROUPED, grant=SERVER.keys["grant"], epsilon=0.12).raw)

    def test_to_pandas_without_pandas_says_how_to_install_it(self) -> None:
        code = (
            "import json, veilbox\n"
            "ans = veilbox.Answer(json.load(sys.stdin))\n"
            "print(len(ans.to_records()))\n"
            "try:\n"
            "    ans.to_pandas()\n"
            "except veilbox.MissingDependency as e:\n"
            "    print('MISSING', isinstance(e, ImportError), e)\n"
        )
        out = run_without("pandas", code, self.raw)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(lines[0], "7")
        self.assertTrue(lines[1].startswith("MISSING True "), out.stdout)
        self.assertIn("needs pandas", lines[1])
        self.assertIn("apt-get install python3-pandas", lines[1])
        self.assertIn("pip install pandas", lines[1])

    def test_importing_veilbox_does_not_import_pandas(self) -> None:
        out = subprocess.run(
            [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(SRC)!r}); import veilbox; print('pandas' in sys.modules)"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(out.stdout.strip(), "False", out.stderr)

    def test_verify_without_cryptography_says_how_to_install_it(self) -> None:
        code = (
            "import json, veilbox\n"
            "ans = veilbox.Answer(json.load(sys.stdin))\n"
            "try:\n"
            "    ans.receipt.verify('-----BEGIN PUBLIC KEY-----')\n"
            "except veilbox.MissingDependency as e:\n"
            "    print('MISSING', e)\n"
        )
        out = run_without("cryptography", code, self.raw)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(out.stdout.startswith("MISSING "), out.stdout)
        self.assertIn("'cryptography' package", out.stdout)
        self.assertIn("python3-cryptography", out.stdout)


if __name__ == "__main__":
    unittest.main()
