"""EDEN's hot path as fused CPU loops (numba): sign flip + Walsh–Hadamard + quantise + pack, and unpack + dequantise +
inverse Hadamard + sign flip, bit for bit the bytes and floats of the torch path in ``eden.py``.

Bit-exactness holds because every float operation is the torch path's, in the same order:
- the transform is the textbook radix-2 butterfly network, levels in increasing stride (``hadamard.fwht``); the
  kernel fuses three levels per memory pass (a radix-8 step does the same additions as three radix-2 levels) and
  blocks them for the cache (levels below ``BLOCK_BITS`` in L1-sized blocks, the rest on gathered column strips),
  which reorders only independent butterflies;
- sign flips are XORs of the float sign bit with the same random words (``eden.sign_words``);
- quantisation uses the same float32 products, lookup grid and thresholds (passed in from ``Table``);
- ‖x‖² and ⟨c[idx], h⟩ are float64 sums in ``summation``'s order (rows of LANES added pairwise, then lanes);
- packing writes ``bitpack.pack``'s layout (8 rows of m = piece/8 values, b byte planes), one SLICE piece at a time.
Loops index through array views from 0 (numba then drops its negative-index checks and LLVM vectorises them).

The kernel covers CPU tensors of at least ``MIN_NUMEL`` coordinates with a whole number of bits per coordinate (or
sub-sampling, sent with 1 bit) and, when decoding, no simulated packet loss; ``eden.py`` keeps the torch path for the rest (and when numba is missing).
"""

from __future__ import annotations

import threading

import numpy as np

try:
    from numba import njit
except ImportError:  # the torch path serves everything then
    njit = None

from spotlab.tasks.compress.summation import LANES

AVAILABLE = njit is not None
# Shorter inputs take the torch path: it needs about a millisecond there, while the kernel's first call in a fresh
# environment pays numba's one-off compile (tens of seconds to minutes on a loaded 2-core machine; cached on disk
# afterwards), which small jobs and unit tests of other families should not pay.
MIN_NUMEL = 2**15
BLOCK_BITS = 12  # 2^12 floats = 16 KiB: the low levels of a block run in L1
STRIP_FLOATS = 2**15  # a strip of columns gathered for the high levels fills 128 KiB (L2)
MIN_STRIP = 16  # at least one 64-byte line per row
STRIP_LEVELS = 8  # levels per strip pass: 2^20 takes one pass after the blocks, 2^24 two
SLICE_BITS = 20  # eden.SLICE: indices are packed one 2^20-coordinate piece at a time
STACK = 64
SUM_PART = 512  # squares / products are summed 512 at a time (4 KiB of float64 stays in L1 beside the block)


def _jit(function):
    return njit(cache=True, nogil=True, boundscheck=False)(function) if AVAILABLE else function


@_jit
def _radix8(v: np.ndarray, half: int) -> None:
    """Levels log2(half) .. +2 on v (8·half long): three radix-2 levels, the same additions in the same order."""
    v0 = v[0:half]
    v1 = v[half:2 * half]
    v2 = v[2 * half:3 * half]
    v3 = v[3 * half:4 * half]
    v4 = v[4 * half:5 * half]
    v5 = v[5 * half:6 * half]
    v6 = v[6 * half:7 * half]
    v7 = v[7 * half:8 * half]
    for i in range(half):
        x0, x1, x2, x3, x4, x5, x6, x7 = v0[i], v1[i], v2[i], v3[i], v4[i], v5[i], v6[i], v7[i]
        a0, a1, a2, a3 = x0 + x1, x0 - x1, x2 + x3, x2 - x3
        a4, a5, a6, a7 = x4 + x5, x4 - x5, x6 + x7, x6 - x7
        b0, b1, b2, b3 = a0 + a2, a1 + a3, a0 - a2, a1 - a3
        b4, b5, b6, b7 = a4 + a6, a5 + a7, a4 - a6, a5 - a7
        v0[i], v1[i], v2[i], v3[i] = b0 + b4, b1 + b5, b2 + b6, b3 + b7
        v4[i], v5[i], v6[i], v7[i] = b0 - b4, b1 - b5, b2 - b6, b3 - b7


@_jit
def _radix4(v: np.ndarray, half: int) -> None:
    v0 = v[0:half]
    v1 = v[half:2 * half]
    v2 = v[2 * half:3 * half]
    v3 = v[3 * half:4 * half]
    for i in range(half):
        x0, x1, x2, x3 = v0[i], v1[i], v2[i], v3[i]
        a0, a1, a2, a3 = x0 + x1, x0 - x1, x2 + x3, x2 - x3
        v0[i], v1[i], v2[i], v3[i] = a0 + a2, a1 + a3, a0 - a2, a1 - a3


@_jit
def _radix2(v: np.ndarray, half: int) -> None:
    v0 = v[0:half]
    v1 = v[half:2 * half]
    for i in range(half):
        x0, x1 = v0[i], v1[i]
        v0[i], v1[i] = x0 + x1, x0 - x1


@_jit
def _low_levels(v: np.ndarray) -> None:
    """Levels 0, 1, 2 (strides 1, 2, 4) on every group of 8 (len(v) a multiple of 8)."""
    for g in range(len(v) // 8):
        j = 8 * g
        x0, x1, x2, x3, x4, x5, x6, x7 = v[j], v[j + 1], v[j + 2], v[j + 3], v[j + 4], v[j + 5], v[j + 6], v[j + 7]
        a0, a1, a2, a3 = x0 + x1, x0 - x1, x2 + x3, x2 - x3
        a4, a5, a6, a7 = x4 + x5, x4 - x5, x6 + x7, x6 - x7
        b0, b1, b2, b3 = a0 + a2, a1 + a3, a0 - a2, a1 - a3
        b4, b5, b6, b7 = a4 + a6, a5 + a7, a4 - a6, a5 - a7
        v[j], v[j + 1], v[j + 2], v[j + 3] = b0 + b4, b1 + b5, b2 + b6, b3 + b7
        v[j + 4], v[j + 5], v[j + 6], v[j + 7] = b0 - b4, b1 - b5, b2 - b6, b3 - b7


@_jit
def _levels_3_to_5(v: np.ndarray) -> None:
    """Levels 3, 4, 5 on every group of 64: _radix8 with half = 8, a constant stride LLVM vectorises whole."""
    for g in range(len(v) // 64):
        block = v[64 * g:64 * g + 64]
        for i in range(8):
            x0, x1, x2, x3 = block[i], block[8 + i], block[16 + i], block[24 + i]
            x4, x5, x6, x7 = block[32 + i], block[40 + i], block[48 + i], block[56 + i]
            a0, a1, a2, a3 = x0 + x1, x0 - x1, x2 + x3, x2 - x3
            a4, a5, a6, a7 = x4 + x5, x4 - x5, x6 + x7, x6 - x7
            b0, b1, b2, b3 = a0 + a2, a1 + a3, a0 - a2, a1 - a3
            b4, b5, b6, b7 = a4 + a6, a5 + a7, a4 - a6, a5 - a7
            block[i], block[8 + i], block[16 + i], block[24 + i] = b0 + b4, b1 + b5, b2 + b6, b3 + b7
            block[32 + i], block[40 + i], block[48 + i], block[56 + i] = b0 - b4, b1 - b5, b2 - b6, b3 - b7


@_jit
def _levels(v: np.ndarray, first: int, last: int) -> None:
    """Butterfly levels first .. last − 1 (stride 2^level) on v, in increasing stride, three at a time."""
    level = first
    if level == 0 and last >= 3:
        _low_levels(v)
        level = 3
    if level == 3 and last >= 6:
        _levels_3_to_5(v)
        level = 6
    while level < last:
        step = min(3, last - level)
        half = 1 << level
        span = half << step
        for base in range(0, len(v), span):
            block = v[base:base + span]
            if step == 3:
                _radix8(block, half)
            elif step == 2:
                _radix4(block, half)
            else:
                _radix2(block, half)
        level += step


@_jit
def _log2(n: int) -> int:
    k = 0
    while (1 << k) < n:
        k += 1
    return k


@_jit
def _flip(bits: np.ndarray, coordinate: int, words: np.ndarray, width: int) -> None:
    """XOR the sign bits of ``bits`` (uint32 view of floats at global coordinates coordinate, ...) with the random
    words: bit r of word i belongs to coordinate r·width + i (``eden.flip_signs``)."""
    done = 0
    n = len(bits)
    while done < n:
        row = (coordinate + done) // width
        column = coordinate + done - row * width
        run = min(n - done, width - column)
        target = bits[done:done + run]
        source = words[column:column + run]
        shift = np.uint32(row)
        for i in range(run):
            target[i] ^= ((source[i] >> shift) & np.uint32(1)) << np.uint32(31)
        done += run


@_jit
def _flip_copy(source: np.ndarray, target: np.ndarray, coordinate: int, words: np.ndarray, width: int) -> None:
    """target = source with _flip's sign bits applied (uint32 views)."""
    done = 0
    n = len(target)
    while done < n:
        row = (coordinate + done) // width
        column = coordinate + done - row * width
        run = min(n - done, width - column)
        out = target[done:done + run]
        inp = source[done:done + run]
        bits = words[column:column + run]
        shift = np.uint32(row)
        for i in range(run):
            out[i] = inp[i] ^ (((bits[i] >> shift) & np.uint32(1)) << np.uint32(31))
        done += run


@_jit
def _push(stack: np.ndarray, state: np.ndarray, row: np.ndarray) -> None:
    """Add one LANES-row to a running pairwise sum of equal-sized, consecutive parts (a binary counter: the new row
    merges with the top of the stack once per trailing one of the count)."""
    count = state[0]
    top = state[1]
    stack[top, :] = row
    while count & 1:
        for lane in range(row.shape[0]):
            stack[top - 1, lane] = stack[top - 1, lane] + stack[top, lane]
        top -= 1
        count >>= 1
    state[0] += 1
    state[1] = top + 1


@_jit
def _rows_sum(values: np.ndarray, out: np.ndarray) -> None:
    """Pairwise sum of the rows of ``values`` (rows × LANES, a power-of-two row count; overwritten) into out."""
    flat = values.reshape(-1)
    rows = values.shape[0]
    while rows > 1:
        rows //= 2
        for r in range(rows):
            pair = flat[2 * LANES * r:2 * LANES * (r + 1)]
            target = flat[LANES * r:LANES * (r + 1)]
            for lane in range(LANES):
                target[lane] = pair[lane] + pair[LANES + lane]
    out[:] = values[0]


@_jit
def _lanes_total(row: np.ndarray) -> float:
    lanes = row.copy()
    width = lanes.shape[0]
    while width > 1:
        width //= 2
        for lane in range(width):
            lanes[lane] = lanes[lane] + lanes[lane + width]
    return lanes[0]


@_jit
def _strips(buf: np.ndarray, low: int, high: int, words: np.ndarray, width: int, coordinate: int) -> None:
    """Levels low .. high − 1 of buf (length 2^high), a strip of columns at a time: the columns' rows (2^low apart) are
    gathered into a contiguous scratch, where those levels are plain radix steps, and scattered back — with the sign
    flip when ``width`` > 0 (decoding)."""
    rows = 1 << (high - low)
    stride = 1 << low
    strip = min(stride, max(MIN_STRIP, STRIP_FLOATS // rows))
    scratch = np.empty(rows * strip, dtype=np.float32)
    strip_bits = _log2(strip)
    for column in range(0, stride, strip):
        for r in range(rows):
            source = buf[r * stride + column:r * stride + column + strip]
            target = scratch[r * strip:(r + 1) * strip]
            for i in range(strip):
                target[i] = source[i]
        _levels(scratch, strip_bits, strip_bits + high - low)
        for r in range(rows):
            source = scratch[r * strip:(r + 1) * strip]
            target = buf[r * stride + column:r * stride + column + strip]
            for i in range(strip):
                target[i] = source[i]
            if width > 0:
                _flip(target.view(np.uint32), coordinate + r * stride + column, words, width)


@_jit
def _high_levels(buf: np.ndarray, low: int, high: int, words: np.ndarray, width: int, coordinate: int) -> None:
    """Levels low .. high − 1 in groups of at most STRIP_LEVELS (each group one pass over buf, on the independent
    2^group_end-long super-blocks), so a strip's rows stay few and long; the sign flip (width > 0) rides on the
    last group's scatter."""
    first = low
    while first < high:
        last = min(high, first + STRIP_LEVELS)
        flip = width if last == high else 0
        for base in range(0, len(buf), 1 << last):
            _strips(buf[base:base + (1 << last)], first, last, words, flip, coordinate + base)
        first = last


@_jit
def rotate(x: np.ndarray, start: int, buf: np.ndarray, words: np.ndarray, width: int) -> float:
    """Encoder, first half, for the chunk at ``start`` of the padded vector (length len(buf), x zero-padded beyond
    its end): buf = H·diag(s)·x_chunk; returns ‖x_chunk‖² in summation order."""
    size = len(buf)
    levels = _log2(size)
    block = min(size, 1 << BLOCK_BITS)
    low = min(levels, BLOCK_BITS)
    part = min(block, SUM_PART)
    squares = np.zeros((max(1, part // LANES), LANES), dtype=np.float64)
    flat = squares.reshape(-1)
    stack = np.empty((STACK, LANES), dtype=np.float64)
    state = np.zeros(2, dtype=np.int64)
    row = np.empty(LANES, dtype=np.float64)
    n = len(x)
    for lo in range(0, size, block):
        target = buf[lo:lo + block]
        valid = max(0, min(block, n - start - lo))
        if valid == block:
            _flip_copy(x[start + lo:start + lo + block].view(np.uint32), target.view(np.uint32), start + lo, words,
                       width)
        else:  # the zero padding is sign-flipped too (to ±0), as the torch path does
            for i in range(valid):
                target[i] = x[start + lo + i]
            for i in range(valid, block):
                target[i] = 0.0
            _flip(target.view(np.uint32), start + lo, words, width)
        for first in range(0, block, part):
            values = target[first:first + part]
            if part >= 2 * LANES:  # squares with the first pairwise level folded in
                for r in range(part // (2 * LANES)):
                    pair = values[2 * LANES * r:2 * LANES * (r + 1)]
                    out = flat[LANES * r:LANES * (r + 1)]
                    for lane in range(LANES):
                        a = np.float64(pair[lane])
                        b = np.float64(pair[LANES + lane])
                        out[lane] = a * a + b * b
                _rows_sum(squares[:part // (2 * LANES)], row)
            else:
                for i in range(part):
                    value = np.float64(values[i])
                    flat[i] = value * value
                _rows_sum(squares, row)
            _push(stack, state, row)
        _levels(target, 0, low)
    if levels > low:
        _high_levels(buf, low, levels, words, 0, 0)
    return _lanes_total(stack[0])


@_jit
def _bucket(h: np.float32, bits: int, scale_in: np.float32, offset_in: np.float32, lut: np.ndarray,
            upper: np.ndarray, last: np.float32) -> int:
    if bits == 1:
        return 1 if h > 0 else 0
    bucket = lut[np.int32(min(max(h * scale_in + offset_in, np.float32(0.0)), last))]
    return bucket + (1 if h > upper[bucket] else 0)


@_jit
def _quantize_pack_short(h: np.ndarray, bits: int, scale_in: np.float32, offset_in: np.float32, lut: np.ndarray,
                         upper: np.ndarray, levels: np.ndarray, out: np.ndarray) -> float:
    """quantize_pack for one piece shorter than 8·LANES: indices in order, then packed (zero-padded to 8 rows)."""
    n = len(h)
    m = (n + 7) // 8
    last = np.float32(len(lut) - 1)
    idx = np.zeros(8 * m, dtype=np.uint8)
    rows = 1
    while rows * LANES < n:
        rows *= 2
    products = np.zeros((rows, LANES), dtype=np.float64)
    flat = products.reshape(-1)
    for i in range(n):
        idx[i] = _bucket(h[i], bits, scale_in, offset_in, lut, upper, last)
        flat[i] = levels[idx[i]] * np.float64(h[i])
    for j in range(m):
        word = np.uint64(0)
        for k in range(8):
            word |= np.uint64(idx[k * m + j]) << np.uint64(k * bits)
        for plane in range(bits):
            out[plane * m + j] = np.uint8(word >> np.uint64(8 * plane) & np.uint64(255))
    row = np.empty(LANES, dtype=np.float64)
    _rows_sum(products, row)
    return _lanes_total(row)


@_jit
def quantize_pack(buf: np.ndarray, bits: int, scale_in: np.float32, offset_in: np.float32, lut: np.ndarray,
                  upper: np.ndarray, levels: np.ndarray, out: np.ndarray) -> float:
    """Encoder, second half: the bucket of every h in buf (Table.quantize's arithmetic: cell = h·scale_in + offset_in,
    clamped, looked up, corrected by one threshold comparison; b = 1: h > 0), packed into out as bitpack.pack lays
    out each 2^SLICE_BITS piece; returns ⟨levels[idx], h⟩ (float64 products) in summation order."""
    size = len(buf)
    if size < 8 * LANES:
        return _quantize_pack_short(buf, bits, scale_in, offset_in, lut, upper, levels, out)
    piece = min(size, 1 << SLICE_BITS)
    m = piece // 8
    span = min(m, SUM_PART)
    last = np.float32(len(lut) - 1)
    idx = np.empty((8, span), dtype=np.uint8)
    products = np.empty((span // LANES, LANES), dtype=np.float64)
    flat = products.reshape(-1)
    stacks = np.empty((8, STACK, LANES), dtype=np.float64)
    states = np.zeros((8, 2), dtype=np.int64)
    pieces = np.empty((STACK, LANES), dtype=np.float64)
    piece_state = np.zeros(2, dtype=np.int64)
    row = np.empty(LANES, dtype=np.float64)
    streams = np.empty((8, LANES), dtype=np.float64)
    words = np.empty(span, dtype=np.uint64)
    for p in range(size // piece):
        values = buf[p * piece:(p + 1) * piece]
        planes = out[p * m * bits:(p + 1) * m * bits]
        states[:, :] = 0
        for j0 in range(0, m, span):
            for k in range(8):
                h = values[k * m + j0:k * m + j0 + span]
                target = idx[k]
                for i in range(span):
                    target[i] = _bucket(h[i], bits, scale_in, offset_in, lut, upper, last)
                for i in range(span):
                    flat[i] = levels[target[i]] * np.float64(h[i])
                _rows_sum(products, row)
                _push(stacks[k], states[k], row)
            for i in range(span):
                words[i] = np.uint64(idx[0, i])
            for k in range(1, 8):
                shift = np.uint64(k * bits)
                source = idx[k]
                for i in range(span):
                    words[i] |= np.uint64(source[i]) << shift
            for plane in range(bits):
                target = planes[plane * m + j0:plane * m + j0 + span]
                shift = np.uint64(8 * plane)
                for i in range(span):
                    target[i] = np.uint8(words[i] >> shift & np.uint64(255))
        for k in range(8):
            streams[k] = stacks[k, 0]
        _rows_sum(streams, row)
        _push(pieces, piece_state, row)
    return _lanes_total(pieces[0])


@_jit
def dequantize_rotate(packed: np.ndarray, bits: int, table: np.ndarray, out: np.ndarray, start: int,
                      words: np.ndarray, width: int) -> None:
    """Decoder for one chunk: out = diag(s)·H·table[idx] with idx unpacked from ``packed`` (bitpack layout, one
    2^SLICE_BITS piece at a time); ``start`` is the chunk's coordinate in the padded vector (for the signs)."""
    size = len(out)
    levels = _log2(size)
    piece = min(size, 1 << SLICE_BITS)
    m = (piece + 7) // 8
    block = min(size, 1 << BLOCK_BITS, m)
    low = min(levels, BLOCK_BITS)
    mask = np.uint64((1 << bits) - 1)
    word = np.empty(block, dtype=np.uint64)
    for lo in range(0, size, block):
        p = lo // piece
        k = (lo - p * piece) // m
        j0 = lo - p * piece - k * m
        planes = packed[p * m * bits:(p + 1) * m * bits]
        target = out[lo:lo + block]
        first = planes[j0:j0 + block]
        for i in range(block):
            word[i] = np.uint64(first[i])
        for plane in range(1, bits):
            source = planes[plane * m + j0:plane * m + j0 + block]
            plane_shift = np.uint64(8 * plane)
            for i in range(block):
                word[i] |= np.uint64(source[i]) << plane_shift
        shift = np.uint64(k * bits)
        for i in range(block):
            target[i] = table[(word[i] >> shift) & mask]
    # Levels below BLOCK_BITS per L1 block; a block may span less than one packing row, so this runs after unpacking.
    block = min(size, 1 << BLOCK_BITS)
    for lo in range(0, size, block):
        target = out[lo:lo + block]
        _levels(target, 0, low)
        if levels <= low:
            _flip(target.view(np.uint32), start + lo, words, width)
    if levels > low:
        _high_levels(out, low, levels, words, width, start)


class Scratch(threading.local):
    """A per-thread work buffer for the encoder's rotation, reused across calls: a fresh multi-MiB allocation costs
    more in page faults on first touch than the transform itself."""

    def __init__(self):
        self.buffer = np.empty(0, dtype=np.float32)

    def take(self, size: int) -> np.ndarray:
        if len(self.buffer) < size:
            self.buffer = np.empty(size, dtype=np.float32)
        return self.buffer[:size]


SCRATCH = Scratch()
