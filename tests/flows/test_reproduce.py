"""`spotlab reproduce`: runs paper configs, collects verdicts, writes one report; exit 0 only if all pass."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from spotlab.infra.cli import app
from spotlab.infra.runs import Run, list_runs
from spotlab.infra.storage import open_store

SWEEP = """
name: {name}
stages: [prep, study]
study:
  kind: seed-sweep
  seeds: 2
  min_accuracy: {bound}
  train: {{model: {{kind: mlp, hidden: [16]}}, epochs: 30}}
profiles:
  quick: {{study.train.epochs: 2}}
"""


def test_verdicts_report_and_exit_codes(tmp_path, prefect_api, monkeypatch):
    monkeypatch.chdir(tmp_path)
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "easy.yaml").write_text(SWEEP.format(name="easy", bound=0.3))
    (papers / "impossible.yaml").write_text(SWEEP.format(name="impossible", bound=1.0))
    (papers / "broken.yaml").write_text("study: {kind: no-such-study}\n")
    store = tmp_path / "store"
    runner = CliRunner()

    one = runner.invoke(app, ["reproduce", "easy", "--quick", "--json", "--papers-dir", str(papers),
                              "--store", str(store)], catch_exceptions=False)
    assert one.exit_code == 0, one.stderr
    [verdict] = json.loads(one.stdout)
    assert verdict["name"] == "easy" and verdict["verdict"] == "pass" and verdict["expected"] == ">= 0.3"

    every = runner.invoke(app, ["reproduce", "--quick", "--json", "--papers-dir", str(papers), "--store", str(store)],
                          catch_exceptions=False)
    assert every.exit_code == 1
    verdicts = {v["name"]: v for v in json.loads(every.stdout)}
    assert set(verdicts) == {"easy", "impossible", "broken"}
    assert verdicts["impossible"]["verdict"] == "fail"
    assert verdicts["broken"]["verdict"] == "error" and "no-such-study" in verdicts["broken"]["measured"]

    report_run = [m for m in list_runs(open_store(str(store))).manifests if m.name == "reproduce"][-1]
    run = Run.open(open_store(str(store)), report_run.run_id)
    html = run.read(run.find("report/report.html")).decode()
    assert "<table>" in html and "impossible" in html
    markdown = run.read(run.find("report/report.md")).decode()
    assert "| easy |" in markdown and "fail" in markdown

    unknown = runner.invoke(app, ["reproduce", "nope", "--papers-dir", str(papers)], catch_exceptions=False)
    assert unknown.exit_code == 2 and "available: ['broken', 'easy', 'impossible']" in unknown.stderr
