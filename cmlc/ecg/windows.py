"""Sliding windows of the ``conv``, ``max_pool`` and ``avg_pool`` ops: where the windows lie
(torch's output sizes), what they read outside the input, the divisors of ``avg_pool``, and the
numpy references of the three ops (``cmlc.ecg.ops.OPS``), which the TE definitions of
``cmlc.kernels.lowering`` mirror.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowGeometry:
    """Where the windows of a conv/pool lie along each spatial axis.

    out : output sizes ``S_out``. extent : length of the padded axis the windows read (the input
    sits at offset ``padding``; everything else is the pad value). span : ``dilation*(k-1)+1``.
    """

    out: tuple
    extent: tuple
    span: tuple


def window_geometry(spatial, kernel, stride, padding, dilation, ceil_mode=False) -> WindowGeometry:
    """torch's output size per axis: ``floor((L + 2p - span) / s) + 1`` (``ceil`` with ``ceil_mode``,
    where a last window starting in the right padding is dropped)."""
    out, extent, span = [], [], []
    for L, k, s, p, d in zip(spatial, kernel, stride, padding, dilation):
        w = d * (k - 1) + 1
        num = L + 2 * p - w
        o = (-(-num // s) if ceil_mode else num // s) + 1
        if ceil_mode and (o - 1) * s >= L + p:
            o -= 1
        out.append(int(o))
        span.append(w)
        extent.append(max(L + 2 * p, (o - 1) * s + w))
    return WindowGeometry(tuple(out), tuple(extent), tuple(span))


def max_pool_fill(dtype: str):
    """What a max_pool window reads outside the input: -inf (the dtype's minimum for ints)
    (``cmlc.ecg.ops.pad_value`` of ``max_pool``)."""
    return -np.inf if np.issubdtype(np.dtype(dtype), np.floating) else np.iinfo(dtype).min


def _windows(x, nd, kernel, stride, padding, dilation, ceil_mode, fill):
    """(N, ..., *S) -> (N, ..., *S_out, *K): the padded input under each window position."""
    g = window_geometry(x.shape[-nd:], kernel, stride, padding, dilation, ceil_mode)
    lead = x.ndim - nd
    pad = [(0, 0)] * lead + [(p, e - L - p) for p, e, L in zip(padding, g.extent, x.shape[-nd:])]
    xp = np.pad(x, pad, constant_values=fill)
    v = np.lib.stride_tricks.sliding_window_view(xp, g.span, axis=tuple(range(lead, x.ndim)))
    index = (slice(None),) * lead + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(g.out, stride)) \
        + tuple(slice(None, None, d) for d in dilation)
    return v[index]


def conv_reference(x, w, stride, padding, dilation=None, groups=1):
    nd = w.ndim - 2
    dilation = dilation or (1,) * nd
    win = _windows(x, nd, w.shape[2:], stride, padding, dilation, False, 0)       # (N, C, *So, *K)
    n, c = x.shape[:2]
    win = win.reshape((n, groups, c // groups) + win.shape[2:])
    wg = w.reshape((groups, w.shape[0] // groups) + w.shape[1:])
    o, k = "opqr"[:nd], "klmj"[:nd]
    out = np.einsum(f"ngc{o}{k},gdc{k}->ngd{o}", win, wg)
    return out.reshape((n, w.shape[0]) + out.shape[3:]).astype(x.dtype, copy=False)


def max_pool_reference(x, kernel, stride, padding, dilation=None, ceil_mode=False):
    nd = len(kernel)
    win = _windows(x, nd, kernel, stride, padding, dilation or (1,) * nd, ceil_mode, max_pool_fill(x.dtype.name))
    return win.max(axis=tuple(range(-nd, 0)))


def avg_pool_divisors(spatial, kernel, stride, padding, ceil_mode=False, count_include_pad=True,
                      divisor_override=None) -> np.ndarray:
    """The divisor of each output position, shape ``S_out`` (torch's rule: the window clipped to the
    padded input with ``count_include_pad``, else to the input itself; or ``divisor_override``)."""
    g = window_geometry(spatial, kernel, stride, padding, (1,) * len(kernel), ceil_mode)
    if divisor_override:
        return np.full(g.out, float(divisor_override))
    counts = []
    for L, k, s, p, o in zip(spatial, kernel, stride, padding, g.out):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, L + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, L)
        counts.append((end - start).astype(np.float64))
    return functools.reduce(np.multiply.outer, counts)


def avg_pool_reference(x, kernel, stride, padding, ceil_mode=False, count_include_pad=True, divisor_override=None,
                       dilation=None):
    nd = len(kernel)
    win = _windows(x, nd, kernel, stride, padding, (1,) * nd, ceil_mode, 0)
    div = avg_pool_divisors(x.shape[-nd:], kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    return win.sum(axis=tuple(range(-nd, 0))) / div.astype(x.dtype)
