"""Run a function on N local processes joined in one collective (the study, the benchmark and the tests use it; the
train stage launches through torchrun or horovodrun instead, see ``tasks/distributed/stage.py``).

Backend ``torch``: a gloo process group of forked workers. Backend ``horovod``: ``horovodrun --gloo`` starts
``python -m spotlab.tasks.distributed.spawn FOLDER``, which runs the pickled call on a
:class:`~spotlab.tasks.distributed.horovod.HorovodCollective`.
"""

from __future__ import annotations

import importlib.util
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Literal

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from spotlab.tasks.distributed.collective import Collective, TorchCollective


def horovodrun_command(workers: int, command: list[str]) -> list[str]:
    """``horovodrun --gloo -np workers python command...`` with the horovodrun beside this interpreter."""
    horovodrun = shutil.which("horovodrun", path=str(Path(sys.executable).parent)) or shutil.which("horovodrun")
    if horovodrun is None:
        raise RuntimeError("backend 'horovod' needs horovodrun: build Horovod with `make horovod`")
    return [horovodrun, "--gloo", "-np", str(workers), sys.executable, *command]


def _load_main(path: str) -> None:
    """Make the caller's script ``__main__`` here too (as multiprocessing's spawn does), without running its
    ``if __name__ == "__main__"`` block, so that functions it defines unpickle."""
    spec = importlib.util.spec_from_file_location("__mp_main__", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["__main__"] = sys.modules["__mp_main__"] = module
    spec.loader.exec_module(module)


def _call(collective: Collective, folder: str) -> None:
    torch.set_num_threads(1)  # N processes share the machine's cores
    main_path, call = pickle.loads((Path(folder) / "call.pkl").read_bytes())
    if main_path is not None:
        _load_main(main_path)
    fn, args = pickle.loads(call)
    torch.save(fn(collective, *args), Path(folder) / f"result-{collective.rank}.pt")


def _worker(rank: int, world: int, folder: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world)
    collective = TorchCollective()
    try:
        _call(collective, folder)
    finally:
        collective.close()


def run_workers(fn: Callable[..., Any], workers: int, *args: Any,
                backend: Literal["torch", "horovod"] = "torch") -> list[Any]:
    """``fn(collective, *args)`` on ``workers`` processes; returns each worker's result in rank order.

    ``fn`` and ``args`` must be picklable (a module-level function). Torch workers are forked from a fork server
    that imported torch once (starting a fresh interpreter per worker costs seconds each); forking the caller itself
    would copy whatever threads it holds (Prefect's, torch's pools) into a half-dead state.
    """
    with tempfile.TemporaryDirectory(prefix="spotlab-workers-") as folder:
        in_script = getattr(fn, "__module__", None) == "__main__"
        main_path = getattr(sys.modules["__main__"], "__file__", None) if in_script else None
        (Path(folder) / "call.pkl").write_bytes(pickle.dumps((main_path, pickle.dumps((fn, args)))))
        if backend == "horovod":
            subprocess.run(horovodrun_command(workers, ["-m", "spotlab.tasks.distributed.spawn", folder]), check=True)
        else:
            # torch._dynamo is what DistributedDataParallel imports on first use (~900 modules, seconds per worker).
            mp.set_forkserver_preload(["torch", "torch._dynamo", "spotlab.tasks.distributed.training"])
            mp.start_processes(_worker, args=(workers, folder), nprocs=workers, start_method="forkserver")
        return [torch.load(Path(folder) / f"result-{r}.pt", weights_only=False) for r in range(workers)]


if __name__ == "__main__":  # one horovodrun worker of run_workers(..., backend="horovod")
    from spotlab.tasks.distributed.horovod import HorovodCollective

    collective = HorovodCollective()
    _call(collective, sys.argv[1])
    collective.close()
