"""The ``spotlab`` command line (typer + rich). Results go to stdout; logs and progress go to stderr.

Exit codes: 0 success, 1 a run or storage failure, 2 bad input (config, override, key).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from spotlab.infra.config import ConfigError, PipelineConfig, bundled_examples, example_names, json_schema, load_config
from spotlab.infra.progress import console_output
from spotlab.infra.retention import DEFAULT_GRACE_S, collect_garbage, remove_run
from spotlab.infra.runs import Run, describe_failure, list_runs, observed_state
from spotlab.infra.service_cli import register as register_service_commands
from spotlab.infra.settings import default_artifact_url, prefect_api_problem
from spotlab.infra.storage import InvalidKey, StorageError, open_store
from spotlab.infra.terminal import err, fail, out
from spotlab.tasks.study.report import cell_text

app = typer.Typer(help="spotlab: reproducible experiments for the ICML 2022 'DL: Algorithms' papers.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
runs_app = typer.Typer(help="Runs in an artifact store.", no_args_is_help=True)
artifacts_app = typer.Typer(help="Artifacts of one run.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(artifacts_app, name="artifacts")
bench_app = typer.Typer(help="Micro-benchmarks.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
register_service_commands(app)  # api, deploy, serve, stage run


SetOption = typer.Option(None, "--set", help="Override a field: dotted.path=value (repeatable).")
StoreOption = typer.Option(None, "--store", help="Artifact store URL (default $SPOTLAB_ARTIFACTS or ./spotlab-artifacts).")
EndpointOption = typer.Option(None, "--endpoint-url", help="S3-compatible endpoint (default $AWS_ENDPOINT_URL).")
VerboseOption = typer.Option(False, "--verbose", "-v", help="Log at DEBUG (per-epoch lines included).")
ConfigArgument = typer.Argument(..., help="YAML or JSON pipeline config, or a bundled example's name "
                                          "(`spotlab examples`).")


def _check_prefect_api() -> None:
    problem = prefect_api_problem()
    if problem:
        fail(problem, 1)


def _load(file: str, overrides: list[str] | None, profile: str | None) -> PipelineConfig:
    try:
        return load_config(file, overrides or [], profile)
    except ConfigError as exc:
        fail(str(exc), 2)


def _store(url: str | None, endpoint: str | None):
    try:
        return open_store(url or default_artifact_url(), endpoint)
    except StorageError as exc:
        fail(str(exc), 2)


def print_summary(result: dict[str, Any]) -> None:
    table = Table(title=f"run {result['run_id']}", show_lines=False)
    table.add_column("stage")
    table.add_column("metrics")
    for stage, metrics in result["stages"].items():
        shown = ", ".join(f"{k}={cell_text(v)}" for k, v in metrics.items() if not isinstance(v, (dict, list)))
        table.add_row(stage, shown)
    out.print(table)
    out.print(f"artifacts: {result['artifact_url']}", highlight=False)


@app.command()
def validate(
    file: str = ConfigArgument,
    set_: Optional[list[str]] = SetOption,
    profile: Optional[str] = typer.Option(None, help="Apply a profile defined in the config."),
) -> None:
    """Check a config without running anything or writing anything."""
    config = _load(file, set_, profile)
    out.print(f"{file}: valid; stages: {', '.join(config.active_stages())}", highlight=False)


@app.command()
def run(
    file: str = ConfigArgument,
    set_: Optional[list[str]] = SetOption,
    profile: Optional[str] = typer.Option(None, help="Apply a profile defined in the config."),
    quick: bool = typer.Option(False, "--quick", help="Shorthand for --profile quick."),
    force: bool = typer.Option(False, "--force", help="Re-run stages even when their results are cached."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object {run_id, artifact_url, stages}."),
    verbose: bool = VerboseOption,
) -> None:
    """Run the pipeline described by FILE (Prefect's ephemeral API unless PREFECT_API_URL is set)."""
    config = _load(file, set_, "quick" if quick and profile is None else profile)
    _check_prefect_api()
    from spotlab.flows.pipeline import pipeline

    try:
        with console_output(verbose, live=False if as_json else None):
            result = pipeline(config, force=force)
    except (StorageError, ConfigError) as exc:
        fail(str(exc), 1)
    except Exception as exc:  # the run recorded the cause in its manifest; say it here too, without a traceback
        fail(f"run failed: {describe_failure(exc)}", 1)
    if as_json:
        print(json.dumps(result, default=str))
    else:
        print_summary(result)


@app.command()
def examples() -> None:
    """List the bundled example configs (usable by name: `spotlab run quickstart`)."""
    try:
        for name in example_names():
            print(name)
    except ConfigError as exc:
        fail(str(exc), 1)


@app.command()
def schema(name: str = typer.Argument("pipeline", help="pipeline or a section: data, train, evaluate, ...")) -> None:
    """Print the JSON Schema of the pipeline config or one of its sections."""
    try:
        print(json.dumps(json_schema(name), indent=2))
    except ConfigError as exc:
        fail(str(exc), 2)


@runs_app.command("ls")
def runs_ls(store: Optional[str] = StoreOption, endpoint_url: Optional[str] = EndpointOption,
            as_json: bool = typer.Option(False, "--json")) -> None:
    """List runs, oldest first; a running run whose heartbeat stopped shows as crashed, a failed one its cause."""
    artifact_store = _store(store, endpoint_url)
    try:
        listing = list_runs(artifact_store)
        states = {m.run_id: observed_state(artifact_store, m) for m in listing.manifests}
    except StorageError as exc:
        fail(str(exc), 1)
    for run_id, why in listing.unreadable.items():
        err.print(f"warning: skipped unreadable run {run_id}: {why}", markup=False, highlight=False)
    if as_json:
        print(json.dumps([{"run_id": m.run_id, "name": m.name, "status": states[m.run_id], "created": m.created,
                           "stages": list(m.stages), "error": m.error} for m in listing.manifests]))
        return
    table = Table()
    for column in ("run id", "name", "status", "stages", "artifacts", "cause"):
        table.add_column(column, overflow="fold")
    for m in listing.manifests:
        table.add_row(m.run_id, Text(m.name), states[m.run_id], ", ".join(m.stages), str(len(m.artifacts)),
                      Text(m.error or ""))
    out.print(table)


@runs_app.command("rm")
def runs_rm(run_id: str, store: Optional[str] = StoreOption, endpoint_url: Optional[str] = EndpointOption,
            force: bool = typer.Option(False, "--force", help="Remove it even if its heartbeat is fresh.")) -> None:
    """Remove a run's folder (manifest, lease); its objects go at the next `spotlab gc` unless other runs use them."""
    artifact_store = _store(store, endpoint_url)
    try:
        removed = remove_run(artifact_store, run_id, force=force)
    except InvalidKey as exc:
        fail(str(exc), 2)
    except StorageError as exc:
        fail(str(exc), 1)
    err.print(f"removed run {run_id} ({removed} keys)", highlight=False, markup=False)


@app.command()
def gc(store: Optional[str] = StoreOption, endpoint_url: Optional[str] = EndpointOption,
       dry_run: bool = typer.Option(False, "--dry-run", help="Say what would go; delete nothing."),
       grace_s: float = typer.Option(DEFAULT_GRACE_S, "--grace-s", min=0,
                                     help="Keep unreferenced objects younger than this (runs still writing).")) -> None:
    """Delete stored objects no run's manifest references (and cache entries that point at deleted objects)."""
    artifact_store = _store(store, endpoint_url)
    try:
        result = collect_garbage(artifact_store, grace_s=grace_s, dry_run=dry_run)
    except StorageError as exc:
        fail(str(exc), 1)
    verb = "would delete" if dry_run else "deleted"
    out.print(f"{verb} {len(result.deleted)} objects and {len(result.stale_cache_entries)} cache entries; kept "
              f"{result.referenced} referenced and {result.young} younger than {grace_s:g} s", highlight=False,
              markup=False)


def _open_run(run_id: str, store: str | None, endpoint: str | None) -> Run:
    try:
        return Run.open(_store(store, endpoint), run_id)
    except InvalidKey as exc:
        fail(str(exc), 2)
    except StorageError as exc:
        fail(str(exc), 1)


@artifacts_app.command("ls")
def artifacts_ls(run_id: str, store: Optional[str] = StoreOption, endpoint_url: Optional[str] = EndpointOption,
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """List a run's artifacts with their sha256, size and producing stage."""
    run = _open_run(run_id, store, endpoint_url)
    if run.manifest.error:
        err.print(f"run {run_id} failed: {run.manifest.error}", markup=False, highlight=False)
    if as_json:
        print(json.dumps([a.model_dump() for a in run.manifest.artifacts]))
        return
    table = Table(title=f"run {run_id}")
    for column in ("path", "bytes", "sha256", "stage", "cached from"):
        table.add_column(column, overflow="fold")  # never truncate a path or checksum with an ellipsis
    for a in run.manifest.artifacts:
        table.add_row(a.path, str(a.bytes), a.sha256, a.stage, a.cached_from or "")
    out.print(table)


@artifacts_app.command("get")
def artifacts_get(run_id: str, path: str, dest: Path, store: Optional[str] = StoreOption,
                  endpoint_url: Optional[str] = EndpointOption) -> None:
    """Download artifact PATH ('<stage>/<name>') of a run to DEST, verifying its sha256."""
    target = dest / Path(path).name if dest.is_dir() else dest
    if not target.parent.is_dir():
        fail(f"destination folder {target.parent} does not exist", 2)
    run = _open_run(run_id, store, endpoint_url)
    try:
        data = run.read(run.find(path))
    except StorageError as exc:
        fail(str(exc), 1)
    try:
        target.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror or exc}", 1)
    err.print(f"wrote {target} ({len(data)} bytes, sha256 verified)", highlight=False)


@app.command()
def reproduce(
    names: Optional[list[str]] = typer.Argument(None, help="Paper configs to run (default: all)."),
    quick: bool = typer.Option(False, "--quick", help="Use each config's small 'quick' profile."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdicts as a JSON list."),
    papers_dir: Optional[Path] = typer.Option(None, help="Folder of reproduction configs (default: the bundled "
                                                        "examples/papers)."),
    store: Optional[str] = StoreOption,
    endpoint_url: Optional[str] = EndpointOption,
    verbose: bool = VerboseOption,
) -> None:
    """Run the paper reproduction configs and write one report of every claim check."""
    from spotlab.flows.reproduce import discover, reproduce as reproduce_flow

    try:
        papers_dir = papers_dir or bundled_examples() / "papers"
        files = discover(papers_dir, names or [])
    except ConfigError as exc:
        fail(str(exc), 2)
    if not files:
        err.print(f"no reproduction configs under {papers_dir}; nothing to do")
        if as_json:
            print("[]")
        return
    _check_prefect_api()
    with console_output(verbose, live=False if as_json else None):
        result = reproduce_flow([str(f) for f in files], quick=quick, store_url=store or default_artifact_url(),
                                endpoint_url=endpoint_url)
    verdicts = result["verdicts"]
    if as_json:
        print(json.dumps(verdicts, default=str))
    else:
        table = Table(title="claim checks")
        for column in ("name", "claim", "measured", "expected", "verdict"):
            table.add_column(column)
        for v in verdicts:
            table.add_row(v["name"], v["claim"], cell_text(v["measured"]), v["expected"], v["verdict"])
        out.print(table)
        out.print(f"report: {result['report_url']}", highlight=False)
    raise typer.Exit(0 if all(v["verdict"] == "pass" for v in verdicts) else 1)


@bench_app.command("compression")
def bench_compression(
    method: str = typer.Option("eden", help="Compressor kind: none, fp16, powersgd, random-block, random-k, top-k, qsgd, eden."),
    bits: float = typer.Option(1.0, help="Bits per coordinate (eden; qsgd uses 2^bits - 1 levels; others ignore it)."),
    dim: int = typer.Option(1048576, min=1, help="Length of the Gaussian test vector."),
    ratio: float = typer.Option(64.0, min=1, help="Compression ratio of the sparsifiers (random-block, random-k, top-k)."),
    repeat: int = typer.Option(5, min=1, help="Timed runs (median time, mean vNMSE), each on a fresh input and seed."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    threads: Optional[int] = typer.Option(None, min=1, help="torch CPU threads (default: torch's choice)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Time a compressor's encode/decode on a Gaussian vector; report GB/s (of the fp32 input), wire bytes, vNMSE."""
    from spotlab.tasks.compress.bench import bench_compression as bench

    try:
        row = bench(method, bits, dim, ratio, repeat, device, threads)
    except ValueError as exc:
        fail(str(exc), 2)
    if as_json:
        print(json.dumps(row))
        return
    table = Table(title=f"{method} on {dim} Gaussian coordinates")
    table.add_column("metric")
    table.add_column("value")
    for key, value in row.items():
        table.add_row(key, cell_text(value))
    out.print(table)
