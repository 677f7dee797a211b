"""Every shipped reproduction config runs its quick profile end to end and yields claim verdicts (not errors).

Whether a claim passes is a measured result (reported in README and the docs); this test asserts that each
paper's check runs, produces a verdict per claim and lands in the report.
"""

from __future__ import annotations

from pathlib import Path

from spotlab.flows.reproduce import discover, reproduce

PAPERS = Path(__file__).resolve().parents[2] / "examples" / "papers"
EXPECTED = {
    "cgd", "def", "eden", "fisher-sam", "pacnet", "prl", "ramanujan", "sam-understanding", "toroids",
    "fspi",
    "woods",
    "neural-robustness",
    "ranksim",
    "ntkfl",
    "icgmm",
}


def test_every_paper_config_reaches_verdicts(tmp_path, prefect_api):
    files = discover(PAPERS, [])
    assert {f.stem for f in files} == EXPECTED
    result = reproduce([str(f) for f in files], quick=True, store_url=str(tmp_path))
    verdicts = result["verdicts"]
    errors = [v for v in verdicts if v["verdict"] == "error"]
    assert errors == []
    assert {v["name"] for v in verdicts} == EXPECTED
    assert all(v["verdict"] in ("pass", "fail") and v["claim"] and v["expected"] for v in verdicts)
    assert Path(result["report_url"]).is_file()
