"""Paper reproductions: run each config under examples/papers/ (its ``quick`` profile with --quick), gather every
claim verdict, and store one Markdown + HTML report as an artifact of a ``reproduce`` run."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from prefect import flow

from spotlab.flows.pipeline import pipeline
from spotlab.infra.config import ConfigError, read_config_file, resolve
from spotlab.infra.identity import config_hash
from spotlab.infra.runs import Run, StageRecord, tracked, utc_now
from spotlab.infra.storage import open_store
from spotlab.tasks.progress import advance
from spotlab.tasks.study.report import cell_text, markdown_table

REPORT_STAGE = "report"


def discover(folder: Path, names: list[str]) -> list[Path]:
    available = {p.stem: p for p in sorted(Path(folder).glob("*.yaml"))}
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ConfigError(f"no reproduction config {unknown} in {folder}; available: {sorted(available)}")
    return [available[n] for n in names] if names else list(available.values())


def _run_one(file: str, quick: bool, store_url: str, endpoint_url: str | None) -> tuple[list[dict], dict]:
    """Verdict rows and a report section for one paper config."""
    name = Path(file).stem
    raw = read_config_file(file)
    profile = "quick" if quick and "quick" in (raw.get("profiles") or {}) else None
    overrides = [f"storage.url={store_url}"] + ([f"storage.endpoint_url={endpoint_url}"] if endpoint_url else [])
    config = resolve(raw, file, overrides, profile)
    if config.study is None:
        raise ConfigError(f"{file}: a reproduction config needs a 'study' section")
    result = pipeline(config)
    run = Run.open(open_store(store_url, endpoint_url), result["run_id"])
    claims = json.loads(run.read(run.find("study/claims.json")))
    figures = {
        a.path.split("/", 1)[1]: run.read(a)
        for a in run.manifest.artifacts
        if a.stage == "study" and a.media_type == "image/png"
    }
    section = {
        "name": name,
        "title": result["stages"]["study"]["title"],
        "run_id": result["run_id"],
        "table": json.loads(run.read(run.find("study/table.json"))),
        "figures": figures,
    }
    rows = [
        {"name": name, "claim": c["claim"], "measured": c["measured"], "expected": c["expected"],
         "verdict": c["verdict"]}
        for c in claims
    ]
    return rows, section


def report_markdown(verdicts: list[dict], sections: list[dict]) -> str:
    parts = ["# spotlab paper reproductions\n", markdown_table(verdicts)]
    for s in sections:
        parts += [f"\n## {s['name']}: {s['title']} (run `{s['run_id']}`)\n", markdown_table(s["table"])]
        parts += [f"![{fig}]({s['name']}-{fig})\n" for fig in s["figures"]]
    return "\n".join(parts)


def _html_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p><em>(empty)</em></p>"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(
            f"<td class='{html.escape(str(row.get(c, '')))}'>{html.escape(cell_text(row.get(c, '')))}</td>"
            for c in columns
        ) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def report_html(verdicts: list[dict], sections: list[dict]) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>spotlab reproductions</title><style>"
        "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px}.pass{background:#dfd}.fail{background:#fdd}"
        ".error{background:#fed}</style></head><body><h1>spotlab paper reproductions</h1>",
        _html_table(verdicts),
    ]
    for s in sections:
        parts.append(f"<h2>{html.escape(s['name'])}: {html.escape(s['title'])}</h2>"
                     f"<p>run <code>{html.escape(s['run_id'])}</code></p>{_html_table(s['table'])}")
        for fig, data in s["figures"].items():
            encoded = base64.b64encode(data).decode()
            parts.append(f"<figure><img src='data:image/png;base64,{encoded}' alt='{html.escape(fig)}'>"
                         f"<figcaption>{html.escape(fig)}</figcaption></figure>")
    parts.append("</body></html>")
    return "".join(parts)


@flow(name="reproduce")
def reproduce(files: list[str], quick: bool = False, store_url: str = "./spotlab-artifacts",
              endpoint_url: str | None = None) -> dict[str, Any]:
    """Returns {verdicts: [{name, claim, measured, expected, verdict}], report_url}."""
    verdicts, sections = [], []
    for index, file in enumerate(files):
        advance("paper", index, len(files), Path(file).stem)
        try:
            rows, section = _run_one(file, quick, store_url, endpoint_url)
        except Exception as exc:  # one broken paper must not hide the others' verdicts
            rows, section = [{"name": Path(file).stem, "claim": "the reproduction runs to completion",
                              "measured": f"{type(exc).__name__}: {exc}", "expected": "completes",
                              "verdict": "error"}], None
        verdicts += rows
        if section:
            sections.append(section)
    store = open_store(store_url, endpoint_url)
    settings = {"files": files, "quick": quick}
    identity = config_hash(settings)
    run = Run.create(store, "reproduce", settings, identity)
    with tracked(store, run.run_id):
        started = utc_now()
        report_md = report_markdown(verdicts, sections).encode()
        refs = {
            "verdicts.json": run.write_json(REPORT_STAGE, "verdicts.json", verdicts, identity),
            "report.md": run.write(REPORT_STAGE, "report.md", report_md, "text/markdown", identity),
            "report.html": run.write(REPORT_STAGE, "report.html", report_html(verdicts, sections).encode(),
                                     "text/html", identity),
        }
        for s in sections:
            for fig, data in s["figures"].items():
                name = f"{s['name']}-{fig}"
                refs[name] = run.write(REPORT_STAGE, name, data, "image/png", identity)
        advance("paper", len(files), len(files), "report")
        passed = sum(v["verdict"] == "pass" for v in verdicts)
        record = StageRecord(artifacts=refs, metrics={"passed": passed, "total": len(verdicts)},
                             config_hash=identity, cache_key="", started=started, finished=utc_now())
        run.record_stage(REPORT_STAGE, record, [])
    return {"verdicts": verdicts, "report_url": store.uri(refs["report.html"].key)}
