"""EDEN encode/decode throughput on one CPU thread: the fused kernel, the torch path, a naive EDEN and a memory copy;
then every compressor.

GB/s are counted on the fp32 input (4·d bytes / median seconds). Rows: EDEN with its fused numba kernel (the CPU
default, tasks/compress/eden_kernel.py), EDEN's pure-torch path (the reference the kernel matches bit for bit, and
the path on other devices), and a straightforward EDEN written the obvious way (one Hadamard level per loop
iteration, signs drawn per coordinate, ``torch.bucketize``, int64 indices left unpacked on the wire; the official
EDEN code is not re-implemented here), plus a copy of the input into a preallocated buffer as the memory ceiling,
all measured in the same run. Every setting draws a fresh Gaussian input and seed per run. "CPU" columns are the
median of the thread's CPU time: on a machine shared with other jobs it leaves out the time the OS gave to them.

    .venv/bin/python benchmarks/bench_eden.py [--repeat 5] [--dims 20 24] [--bits 1 2 4] [--device cuda]

With ``--device cuda`` EDEN (its torch path: the kernel is CPU-only), the copy and the compressors run on the GPU
(the naive baseline stays off).

Large vectors: this VM's page faults make every fresh 64 MiB allocation cost tens of ms, for EDEN, the baseline
and the copy alike; ``MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=17179869184`` keeps freed memory in
the process (glibc), which removes that cost for all of them.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from spotlab.tasks.compress.bench import measure
from spotlab.tasks.compress.config import COMPRESSORS
from spotlab.tasks.compress.eden import EdenConfig
from spotlab.tasks.compress.lloyd_max import lloyd_max


def naive_hadamard(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal Walsh–Hadamard transform, one butterfly level per iteration."""
    d = x.numel()
    y = x.clone()
    half = 1
    while half < d:
        pairs = y.view(-1, 2, half)
        top, bottom = pairs[:, 0].clone(), pairs[:, 1].clone()
        pairs[:, 0] = top + bottom
        pairs[:, 1] = top - bottom
        half *= 2
    return y / math.sqrt(d)


class NaiveEden:
    """EDEN for a power-of-two d written the straightforward way: unpacked int64 indices."""

    def __init__(self, bits: int):
        levels, boundaries = lloyd_max(bits)
        self.levels = torch.tensor(levels, dtype=torch.float32)
        self.boundaries = torch.tensor(boundaries, dtype=torch.float32)

    def signs(self, d: int, seed: int) -> torch.Tensor:
        return torch.randint(0, 2, (d,), generator=torch.Generator().manual_seed(seed)).float() * 2 - 1

    def compress(self, x: torch.Tensor, seed: int):
        y = naive_hadamard(x * self.signs(x.numel(), seed))
        z = y * math.sqrt(x.numel()) / y.norm()
        idx = torch.bucketize(z, self.boundaries)  # int64, sent as is
        q = self.levels[idx]
        scale = y.norm() ** 2 / torch.dot(q, y)
        return idx, scale, seed

    def decompress(self, payload) -> torch.Tensor:
        idx, scale, seed = payload
        return naive_hadamard(self.levels[idx] * scale) * self.signs(idx.numel(), seed)


def time_naive(bits: int, d: int, repeat: int) -> dict:
    codec = NaiveEden(bits)
    gen = torch.Generator().manual_seed(0)
    codec.decompress(codec.compress(torch.randn(d, generator=gen), 0))
    encode, decode, encode_cpu, decode_cpu, errors = [], [], [], [], []
    for r in range(repeat):
        x = torch.randn(d, generator=gen)
        start, start_cpu = time.perf_counter(), time.thread_time()
        payload = codec.compress(x, r + 1)
        middle, middle_cpu = time.perf_counter(), time.thread_time()
        estimate = codec.decompress(payload)
        encode.append(middle - start)
        decode.append(time.perf_counter() - middle)
        encode_cpu.append(middle_cpu - start_cpu)
        decode_cpu.append(time.thread_time() - middle_cpu)
        errors.append(float((estimate - x).pow(2).sum() / x.pow(2).sum()))
    return {"encode_s": statistics.median(encode), "decode_s": statistics.median(decode),
            "encode_best_s": min(encode), "decode_best_s": min(decode),
            "encode_cpu_s": statistics.median(encode_cpu), "decode_cpu_s": statistics.median(decode_cpu),
            "bytes_on_wire": payload[0].numel() * 8 + 8, "vnmse": statistics.mean(errors)}


def time_copy(d: int, repeat: int, device: str) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of copying the vector into a preallocated buffer."""
    x = torch.randn(d, device=device)
    target = torch.empty_like(x)
    target.copy_(x)
    times, cpu = [], []
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        start, start_cpu = time.perf_counter(), time.thread_time()
        target.copy_(x)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
    return statistics.median(times), statistics.median(cpu)


def gbps(d: int, seconds: float) -> float:
    return 4 * d / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dims", type=int, nargs="+", default=[20, 24], help="log2 of the vector lengths")
    parser.add_argument("--bits", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--skip-all", action="store_true", help="leave out the every-compressor table")
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(f"one CPU thread, device {args.device}; load average before: {open('/proc/loadavg').read().split()[:3]}\n")
    print("| d | method | bits | encode ms | decode ms | encode GB/s | decode GB/s | best encode / decode GB/s | "
          "CPU encode / decode GB/s | bytes on wire | vNMSE |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for log_d in args.dims:
        d = 2**log_d
        copy_s, copy_cpu_s = time_copy(d, args.repeat, args.device)
        print(f"| 2^{log_d} | memcpy (into a preallocated buffer) | 32 | {copy_s * 1e3:.2f} | | {gbps(d, copy_s):.2f} | | "
              f"| {gbps(d, copy_cpu_s):.2f} | {4 * d} | 0 |", flush=True)
        for bits in args.bits:
            rows = []
            if args.device == "cpu":
                rows.append(("EDEN kernel (numba)", measure(EdenConfig(bits=bits).build(), d, args.repeat)))
            torch_path = EdenConfig(bits=bits).build()
            torch_path.kernel = False
            rows.append(("EDEN torch path", measure(torch_path, d, args.repeat, args.device)))
            if args.device == "cpu":
                rows.append(("naive EDEN", time_naive(bits, d, args.repeat)))
            for name, row in rows:
                print(f"| 2^{log_d} | {name} | {bits} | {row['encode_s'] * 1e3:.2f} | {row['decode_s'] * 1e3:.2f} | "
                      f"{gbps(d, row['encode_s']):.2f} | {gbps(d, row['decode_s']):.2f} | "
                      f"{gbps(d, row['encode_best_s']):.2f} / {gbps(d, row['decode_best_s']):.2f} | "
                      f"{gbps(d, row['encode_cpu_s']):.2f} / {gbps(d, row['decode_cpu_s']):.2f} | {row['bytes_on_wire']} | "
                      f"{row['vnmse']:.4f} |", flush=True)

    if args.skip_all:
        return
    d = 2**20
    print("\nEvery compressor at d = 2^20 (defaults: ratio 64, qsgd 15 levels, powersgd rank 2, eden 1 bit):\n")
    print("| method | encode ms | decode ms | encode GB/s | decode GB/s | bytes on wire | bits/coord | vNMSE |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, config in COMPRESSORS.items():
        row = measure(config().build(), d, args.repeat, args.device)
        print(f"| {kind} | {row['encode_s'] * 1e3:.2f} | {row['decode_s'] * 1e3:.2f} | {row['encode_gbps']:.2f} | "
              f"{row['decode_gbps']:.2f} | {row['bytes_on_wire']} | {row['bits_per_coordinate']:.3f} | "
              f"{row['vnmse']:.4g} |")


if __name__ == "__main__":
    main()
