"""Orchestration overhead: the quickstart pipeline through Prefect vs the same stage functions called directly.

Both paths run the identical stages through ``spotlab.infra.stages.execute_stage`` into fresh stores, interleaved, so
machine noise hits both alike. Prefect runs against one already-started API (as with a server or a warm
ephemeral API); the one-off start of the ephemeral API is timed separately, since a one-shot CLI run pays it once.

    .venv/bin/python benchmarks/bench_pipeline.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import spotlab.infra  # noqa: F401  - quiet Prefect before it is imported

ROOT = Path(__file__).resolve().parents[1]


def direct(config) -> None:
    from spotlab.flows.pipeline import stage_inputs
    from spotlab.infra.identity import config_hash
    from spotlab.infra.runs import Run, canonical_config
    from spotlab.infra.stages import execute_stage
    from spotlab.infra.storage import open_store
    from spotlab.tasks.data import stage as prep
    from spotlab.tasks.evaluate import stage as evaluate
    from spotlab.tasks.train import stage as train

    functions = {"prep": prep.run, "train": train.run, "evaluate": evaluate.run}
    sections = {"prep": config.data, "train": config.train, "evaluate": config.evaluate}
    run = Run.create(open_store(config.storage.url), config.name, canonical_config(config), config_hash(config))
    done = {}
    for stage in config.active_stages():
        done[stage] = execute_stage(run, stage, sections[stage], config.seed, stage_inputs(stage, done),
                                    functions[stage])
    run.finish("completed")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from prefect.testing.utilities import prefect_test_harness

    from spotlab.flows.pipeline import pipeline
    from spotlab.infra.config import load_config

    def config():
        return load_config(ROOT / "examples" / "quickstart.yaml", [f"storage.url={tempfile.mkdtemp()}"])

    times = {"prefect": [], "direct": []}
    with prefect_test_harness(server_startup_timeout=60):
        pipeline(config())  # warm-up: imports, first API round trips
        for _ in range(args.repeat):
            for name, fn in (("direct", direct), ("prefect", pipeline)):
                started = time.perf_counter()
                fn(config())
                times[name].append(time.perf_counter() - started)
    cli = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "spotlab"), "run", "examples/quickstart.yaml", "--json",
                        "--set", f"storage.url={tempfile.mkdtemp()}"], cwd=ROOT, check=True, capture_output=True)
        cli.append(time.perf_counter() - started)
    prefect, plain = statistics.median(times["prefect"]), statistics.median(times["direct"])
    print(f"direct stages      median {plain:.2f} s  runs {[round(t, 2) for t in times['direct']]}")
    print(f"through Prefect    median {prefect:.2f} s  runs {[round(t, 2) for t in times['prefect']]}")
    print(f"overhead           {prefect - plain:.2f} s = {100 * (prefect - plain) / prefect:.1f} % of wall time")
    print(f"CLI cold start     median {statistics.median(cli):.2f} s (incl. ephemeral API start, interpreter, "
          f"imports)  runs {[round(t, 2) for t in cli]}")


if __name__ == "__main__":
    main()
