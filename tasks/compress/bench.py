"""Compressor micro-benchmark behind ``spotlab bench compression``: encode/decode time and throughput, bytes on the
wire and vNMSE = ‖x̂ − x‖² / ‖x‖² on fresh standard Gaussian vectors."""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from pydantic import BaseModel

from spotlab.tasks.compress.base import Compressor
from spotlab.tasks.compress.config import COMPRESSORS


def config_for(method: str, bits: float, ratio: float) -> BaseModel:
    """The ``method`` config with ``bits`` and ``ratio`` mapped onto the fields it has (qsgd: 2^bits − 1 levels)."""
    if method not in COMPRESSORS:
        raise ValueError(f"--method {method!r} is unknown; choose one of {sorted(COMPRESSORS)}")
    fields = COMPRESSORS[method].model_fields
    settings: dict[str, Any] = {}
    if "bits" in fields:
        settings["bits"] = bits
    if "levels" in fields:
        if bits != int(bits):
            raise ValueError(f"--bits {bits}: {method} takes a whole number of bits (levels = 2^bits − 1)")
        settings["levels"] = 2 ** int(bits) - 1
    if "ratio" in fields:
        settings["ratio"] = ratio
    return COMPRESSORS[method](**settings)


def _now(device: torch.device) -> tuple[float, float]:
    """Wall-clock and this thread's CPU time (the latter leaves out time the OS gave to other jobs)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter(), time.thread_time()


def measure(codec: Compressor, dim: int, repeat: int, device: str = "cpu", seed: int = 0) -> dict[str, Any]:
    """Median encode/decode seconds over ``repeat`` runs (after one warm-up), mean vNMSE and wire bytes; every run
    draws a new input and a new seed. The fastest run is reported too: on a shared machine it is the unloaded cost;
    so is the median of the thread's CPU time (``*_cpu_s``, meaningful for CPU runs)."""
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    warm = torch.randn(dim, generator=gen).to(dev)
    codec.decompress(codec.compress(warm, seed))
    encode, decode, encode_cpu, decode_cpu, errors, wire = [], [], [], [], [], []
    for r in range(repeat):
        x = torch.randn(dim, generator=gen).to(dev)
        start = _now(dev)
        payload = codec.compress(x, seed + 1 + r)
        middle = _now(dev)
        estimate = codec.decompress(payload)
        end = _now(dev)
        encode.append(middle[0] - start[0])
        decode.append(end[0] - middle[0])
        encode_cpu.append(middle[1] - start[1])
        decode_cpu.append(end[1] - middle[1])
        errors.append(float((estimate - x).pow(2).sum() / x.pow(2).sum()))
        wire.append(payload.wire_bytes())
    encode_s, decode_s = statistics.median(encode), statistics.median(decode)
    return {
        "dim": dim,
        "encode_s": encode_s,
        "decode_s": decode_s,
        "encode_gbps": 4 * dim / encode_s / 1e9,
        "decode_gbps": 4 * dim / decode_s / 1e9,
        "encode_best_s": min(encode),
        "decode_best_s": min(decode),
        "encode_cpu_s": statistics.median(encode_cpu),
        "decode_cpu_s": statistics.median(decode_cpu),
        "bytes_on_wire": round(statistics.mean(wire)),
        "bits_per_coordinate": 8 * statistics.mean(wire) / dim,
        "vnmse": statistics.mean(errors),
        "repeat": repeat,
    }


def bench_compression(method: str, bits: float, dim: int, ratio: float, repeat: int, device: str = "cpu",
                      threads: int | None = None) -> dict[str, Any]:
    """One benchmark row as printed by ``spotlab bench compression --json``."""
    config = config_for(method, bits, ratio)
    if threads is not None:
        torch.set_num_threads(threads)
    fields = type(config).model_fields
    row = {"method": method, "bits": bits if "bits" in fields or "levels" in fields else None,
           "ratio": ratio if "ratio" in fields else None}
    row.update(measure(config.build(), dim, repeat, device))
    row.update(device=device, threads=torch.get_num_threads())
    return row
