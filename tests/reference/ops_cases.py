# SPDX-License-Identifier: MIT
"""ops_cases.py - one golden case per built-in operator of spec section 5.

Each case: the NDL model, its inputs, and the PyTorch (float32, eval) reference. Shapes
are deliberately awkward (odd sizes, broadcasting, non-square kernels) and small.
"""
import textwrap

import numpy as np
import torch
import torch.nn.functional as F

from golden import (T, case, camel, ref_attention, ref_hash_route, ref_hashed,
                    ref_rms_norm)


def simple(stem, body, inputs, outputs, weights=None, decls=""):
    """Builds a model with the given inputs (name -> 'f32[..]' type text)."""
    lines = ["model %sTest {" % camel(stem)]
    for name, ty in inputs:
        lines.append("  input %s: %s;" % (name, ty))
    for name in outputs:
        lines.append("  output %s;" % name)
    if weights:
        lines.append('  weights "%s.w.safetensors";' % stem)
    if decls:
        lines.append("")
        lines += ["  " + l for l in textwrap.dedent(decls).strip().split("\n")]
    lines.append("")
    lines.append("  forward {")
    lines += ["    " + l for l in textwrap.dedent(body).strip().split("\n")]
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def ty(a, dt="f32"):
    return "%s[%s]" % (dt, ", ".join(str(d) for d in a.shape))


# ---- unary elementwise ---------------------------------------------------------------
UNARY = [
    ("relu", F.relu, lambda c: c.randn(3, 7)),
    ("relu6", F.relu6, lambda c: c.randn(3, 7, scale=4.0)),
    ("gelu", F.gelu, lambda c: c.randn(2, 3, 5, scale=2.0)),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), lambda c: c.randn(2, 3, 5, scale=2.0)),
    ("silu", F.silu, lambda c: c.randn(5, 9, scale=3.0)),
    ("sigmoid", torch.sigmoid, lambda c: c.randn(4, 1, 7, scale=3.0)),
    ("tanh", torch.tanh, lambda c: c.randn(3, 11, scale=2.0)),
    ("hardswish", F.hardswish, lambda c: c.randn(3, 13, scale=4.0)),
    ("hardsigmoid", F.hardsigmoid, lambda c: c.randn(3, 13, scale=4.0)),
    ("exp", torch.exp, lambda c: c.randn(2, 7, scale=1.5)),
    ("log", torch.log, lambda c: c.uniform(0.05, 5.0, 3, 7)),
    ("sqrt", torch.sqrt, lambda c: c.uniform(0.01, 5.0, 3, 7)),
    ("rsqrt", torch.rsqrt, lambda c: c.uniform(0.2, 5.0, 3, 7)),
    ("abs", torch.abs, lambda c: c.randn(2, 3, 5)),
    ("neg", torch.neg, lambda c: c.randn(2, 3, 5)),
]


def _unary(name, fn, gen):
    def run(c):
        x = gen(c)
        return dict(doc="%s elementwise (torch %s)" % (name, getattr(fn, "__name__", name)),
                    ndl=simple(name, "y = %s(x);" % name, [("x", ty(x))], ["y"], None),
                    inputs={"x": x}, outputs={"y": fn(T(x))})
    case("ops", name)(run)


for _n, _f, _g in UNARY:
    _unary(_n, _f, _g)


# ---- binary arithmetic, broadcasting, compile-time scalars ---------------------------
@case("ops", "add")
def _(c):
    a, b = c.randn(3, 1, 5), c.randn(4, 1)
    return dict(doc="a + b with NumPy broadcasting [3,1,5] + [4,1] -> [3,4,5]",
                ndl=simple("add", "y = a + b;", [("a", ty(a)), ("b", ty(b))], ["y"], None),
                inputs={"a": a, "b": b}, outputs={"y": T(a) + T(b)})


@case("ops", "sub")
def _(c):
    a, b = c.randn(2, 3, 5), c.randn(5)
    return dict(doc="a - b and b - a with a rank-1 right operand broadcast",
                ndl=simple("sub", "y1 = a - b;\ny2 = b - a;", [("a", ty(a)), ("b", ty(b))],
                           ["y1", "y2"], None),
                inputs={"a": a, "b": b}, outputs={"y1": T(a) - T(b), "y2": T(b) - T(a)})


@case("ops", "mul")
def _(c):
    a, b, s = c.randn(2, 3, 4), c.randn(2, 1, 1), c.randn(3, 1)
    return dict(doc="a * b broadcasting [2,3,4]*[2,1,1], and [3,1]*[2,3,4] (rank padding left)",
                ndl=simple("mul", "y1 = a * b;\ny2 = s * a;",
                           [("a", ty(a)), ("b", ty(b)), ("s", ty(s))], ["y1", "y2"], None),
                inputs={"a": a, "b": b, "s": s},
                outputs={"y1": T(a) * T(b), "y2": T(s) * T(a)})


@case("ops", "div")
def _(c):
    a, b = c.randn(4, 6), c.away(4, 1)
    return dict(doc="a / b with a column divisor [4,6]/[4,1], and b / a on [1,6]x[4,1]",
                ndl=simple("div", "y1 = a / b;\ny2 = b / a[0:1, :];", [("a", ty(a)), ("b", ty(b))],
                           ["y1", "y2"], None),
                inputs={"a": a, "b": b},
                outputs={"y1": T(a) / T(b), "y2": T(b) / T(a)[0:1, :]})


@case("ops", "scalar_arith")
def _(c):
    x = c.away(3, 5)
    t = T(x)
    body = """
    y1 = x * 2;
    y2 = 0.5 - x;
    y3 = 1 / x;
    y4 = x / 4;
    y5 = -x + 3;
    y6 = 2.5 * x * x - 1e-1;
    """
    return dict(doc="compile-time scalars on either side of + - * / take the tensor's dtype; unary -",
                ndl=simple("scalar_arith", body, [("x", ty(x))],
                           ["y1", "y2", "y3", "y4", "y5", "y6"], None),
                inputs={"x": x},
                outputs={"y1": t * 2, "y2": 0.5 - t, "y3": 1 / t, "y4": t / 4, "y5": -t + 3,
                         "y6": 2.5 * t * t - 0.1})


@case("ops", "arith_mixed")
def _(c):
    a, b, cc, d, e = c.randn(2, 1, 4), c.randn(3, 1), c.randn(4), c.randn(2, 3, 1), c.away(1, 4)
    return dict(doc="(a + b) * c - d / e: a chain of broadcasts to [2,3,4], operator precedence",
                ndl=simple("arith_mixed", "y = (a + b) * c - d / e;",
                           [("a", ty(a)), ("b", ty(b)), ("c", ty(cc)), ("d", ty(d)), ("e", ty(e))],
                           ["y"], None),
                inputs={"a": a, "b": b, "c": cc, "d": d, "e": e},
                outputs={"y": (T(a) + T(b)) * T(cc) - T(d) / T(e)})


# ---- softmax, reductions, argmax ------------------------------------------------------
@case("ops", "softmax")
def _(c):
    x = c.randn(3, 4, 5, scale=2.0)
    return dict(doc="softmax over dim 1 (positional) and dim = -1 (keyword)",
                ndl=simple("softmax", "y1 = softmax(x, 1);\ny2 = softmax(x, dim = -1);",
                           [("x", ty(x))], ["y1", "y2"], None),
                inputs={"x": x},
                outputs={"y1": torch.softmax(T(x), 1), "y2": torch.softmax(T(x), -1)})


@case("ops", "log_softmax")
def _(c):
    x = c.randn(3, 4, 5, scale=2.0)
    return dict(doc="log_softmax over dim 0 and dim = -1",
                ndl=simple("log_softmax", "y1 = log_softmax(x, 0);\ny2 = log_softmax(x, dim = -1);",
                           [("x", ty(x))], ["y1", "y2"], None),
                inputs={"x": x},
                outputs={"y1": torch.log_softmax(T(x), 0), "y2": torch.log_softmax(T(x), -1)})


@case("ops", "log_softmax_large")
def _(c):
    # logits of 1e4 .. 1e5 (ulp 1e-3 .. 8e-3): max + log(sum) rounds to the max's ulp, so
    # only (x - max) - log(sum), PyTorch's order, stays within the tolerance
    x = (c.randn(4, 6, scale=4.0) + np.array([[1.0e4], [3.0e4], [1.0e5], [-5.0e4]], np.float32)).astype(np.float32)
    return dict(doc="log_softmax of logits far from 0 (1e4 to 1e5), over dim 1 and dim 0",
                ndl=simple("log_softmax_large", "y1 = log_softmax(x, 1);\ny2 = log_softmax(x, 0);",
                           [("x", ty(x))], ["y1", "y2"], None),
                inputs={"x": x},
                outputs={"y1": torch.log_softmax(T(x), 1), "y2": torch.log_softmax(T(x), 0)})


def _reduction(name, fn):
    def run(c):
        x = c.randn(3, 4, 5)
        t = T(x)
        body = """
        y1 = {n}(x, dims = [1]);
        y2 = {n}(x, dims = [0, 2], keepdim = true);
        y3 = {n}(x, dims = [-1]);
        y4 = {n}(x, dims = [2, 0]);
        y5 = {n}(x, dims = [0, 1, 2]);
        """.format(n=name)
        return dict(doc="%s over dims lists (negative, unsorted, all), keepdim" % name,
                    ndl=simple(name, body, [("x", ty(x))], ["y1", "y2", "y3", "y4", "y5"], None),
                    inputs={"x": x},
                    outputs={"y1": fn(t, dim=(1,)), "y2": fn(t, dim=(0, 2), keepdim=True),
                             "y3": fn(t, dim=(-1,)), "y4": fn(t, dim=(2, 0)),
                             "y5": fn(t, dim=(0, 1, 2))})
    case("ops", name)(run)


_reduction("sum", torch.sum)
_reduction("mean", torch.mean)
_reduction("max", torch.amax)
_reduction("min", torch.amin)


@case("ops", "sum_all")
def _(c):
    x = c.randn(3, 5)
    return dict(doc="sum and mean with dims omitted reduce every axis to a 0-d tensor "
                    "(torch.sum(x)); see tests/reference/README.md",
                ndl=simple("sum_all", "y1 = sum(x);\ny2 = mean(x, keepdim = true);",
                           [("x", ty(x))], ["y1", "y2"], None),
                inputs={"x": x},
                outputs={"y1": torch.sum(T(x)), "y2": torch.mean(T(x), dim=(0, 1), keepdim=True)})


@case("ops", "argmax")
def _(c):
    x = c.distinct(3, 5, 4)
    return dict(doc="argmax over dim 1 and dim = -1, i64 result (values far from ties)",
                ndl=simple("argmax", "y1 = argmax(x, 1);\ny2 = argmax(x, dim = -1);",
                           [("x", ty(x))], ["y1", "y2"], None),
                inputs={"x": x},
                outputs={"y1": torch.argmax(T(x), 1), "y2": torch.argmax(T(x), -1)})


# ---- matmul, linear --------------------------------------------------------------------
@case("ops", "matmul")
def _(c):
    a, b = c.randn(3, 4), c.randn(4, 5)
    return dict(doc="matmul [3,4] @ [4,5]",
                ndl=simple("matmul", "y = matmul(a, b);", [("a", ty(a)), ("b", ty(b))], ["y"], None),
                inputs={"a": a, "b": b}, outputs={"y": torch.matmul(T(a), T(b))})


@case("ops", "matmul_batched")
def _(c):
    a, b = c.randn(2, 1, 3, 4), c.randn(5, 4, 6)
    m, v = c.randn(2, 3, 5), c.randn(5, 2)
    return dict(doc="batched matmul with broadcast batch dims [2,1,3,4]@[5,4,6] -> [2,5,3,6], "
                    "and [2,3,5]@[5,2]",
                ndl=simple("matmul_batched", "y1 = matmul(a, b);\ny2 = matmul(m, v);",
                           [("a", ty(a)), ("b", ty(b)), ("m", ty(m)), ("v", ty(v))],
                           ["y1", "y2"], None),
                inputs={"a": a, "b": b, "m": m, "v": v},
                outputs={"y1": torch.matmul(T(a), T(b)), "y2": torch.matmul(T(m), T(v))})


@case("ops", "matmul_1d")
def _(c):
    v, m, m3, w, p = c.randn(4), c.randn(4, 5), c.randn(2, 3, 4), c.randn(4), c.randn(2, 4, 3)
    body = "y1 = matmul(v, m);\ny2 = matmul(m3, v);\ny3 = matmul(v, w);\ny4 = matmul(v, p);"
    return dict(doc="1-D operands as torch.matmul: [4]@[4,5] -> [5], [2,3,4]@[4] -> [2,3], "
                    "[4]@[4] -> 0-d, [4]@[2,4,3] -> [2,3]",
                ndl=simple("matmul_1d", body, [("v", ty(v)), ("m", ty(m)), ("m3", ty(m3)),
                                               ("w", ty(w)), ("p", ty(p))],
                           ["y1", "y2", "y3", "y4"], None),
                inputs={"v": v, "m": m, "m3": m3, "w": w, "p": p},
                outputs={"y1": torch.matmul(T(v), T(m)), "y2": torch.matmul(T(m3), T(v)),
                         "y3": torch.matmul(T(v), T(w)), "y4": torch.matmul(T(v), T(p))})


@case("ops", "linear")
def _(c):
    x, w, b = c.randn(2, 3, 7), c.randn(5, 7), c.randn(5)
    return dict(doc="linear(x, w, b) and linear(x, w) with w, b given as model inputs, 3-D x",
                ndl=simple("linear", "y1 = linear(x, w, b);\ny2 = linear(x, w);",
                           [("x", ty(x)), ("w", ty(w)), ("b", ty(b))], ["y1", "y2"], None),
                inputs={"x": x, "w": w, "b": b},
                outputs={"y1": F.linear(T(x), T(w), T(b)), "y2": F.linear(T(x), T(w))})


@case("ops", "linear_param")
def _(c):
    x, w, b = c.randn(4, 6), c.randn(3, 6), c.randn(3)
    return dict(doc="linear with raw params: linear(x, w, b = bias)",
                ndl=simple("linear_param", "y = linear(x, w, b = bias);", [("x", ty(x))], ["y"],
                           True, decls="param w: f32[3, 6];\nparam bias: f32[3];"),
                inputs={"x": x}, weights={"w": w, "bias": b},
                outputs={"y": F.linear(T(x), T(w), T(b))})


# ---- conv2d ------------------------------------------------------------------------------
@case("ops", "conv2d")
def _(c):
    x, w, b = c.randn(2, 3, 9, 8), c.randn(4, 3, 3, 2, scale=0.5), c.randn(4)
    return dict(doc="conv2d with tensor operands as inputs, non-square kernel 3x2, stride 2, pad 1",
                ndl=simple("conv2d", "y = conv2d(x, w, b, stride = 2, pad = 1);",
                           [("x", ty(x)), ("w", ty(w)), ("b", ty(b))], ["y"], None),
                inputs={"x": x, "w": w, "b": b},
                outputs={"y": F.conv2d(T(x), T(w), T(b), stride=2, padding=1)})


@case("ops", "conv2d_pairs")
def _(c):
    x, w, b = c.randn(1, 3, 8, 9), c.randn(5, 3, 3, 2, scale=0.5), c.randn(5)
    return dict(doc="conv2d with params and [h, w] pairs: stride [2,1], pad [1,0], dilation [1,2]",
                ndl=simple("conv2d_pairs",
                           "y = conv2d(x, w, b = bias, stride = [2, 1], pad = [1, 0], "
                           "dilation = [1, 2]);",
                           [("x", ty(x))], ["y"], True,
                           decls="param w: f32[5, 3, 3, 2];\nparam bias: f32[5];"),
                inputs={"x": x}, weights={"w": w, "bias": b},
                outputs={"y": F.conv2d(T(x), T(w), T(b), stride=(2, 1), padding=(1, 0),
                                       dilation=(1, 2))})


@case("ops", "conv2d_groups")
def _(c):
    x, w = c.randn(2, 4, 7, 6), c.randn(6, 2, 3, 3, scale=0.5)
    return dict(doc="conv2d groups = 2 (4 -> 6 channels), dilation 2, pad 2, no bias",
                ndl=simple("conv2d_groups", "y = conv2d(x, w, groups = 2, dilation = 2, pad = 2);",
                           [("x", ty(x)), ("w", ty(w))], ["y"], None),
                inputs={"x": x, "w": w},
                outputs={"y": F.conv2d(T(x), T(w), None, padding=2, dilation=2, groups=2)})


@case("ops", "conv2d_depthwise")
def _(c):
    x, w, b = c.randn(2, 5, 8, 7), c.randn(5, 1, 3, 3), c.randn(5)
    return dict(doc="depthwise conv2d (groups = channels = 5), stride 2, pad 1, bias None",
                ndl=simple("conv2d_depthwise",
                           "y1 = conv2d(x, w, None, stride = 2, pad = 1, groups = 5);\n"
                           "y2 = conv2d(x, w, b = bias, groups = 5);",
                           [("x", ty(x))], ["y1", "y2"], True,
                           decls="param w: f32[5, 1, 3, 3];\nparam bias: f32[5];"),
                inputs={"x": x}, weights={"w": w, "bias": b},
                outputs={"y1": F.conv2d(T(x), T(w), None, stride=2, padding=1, groups=5),
                         "y2": F.conv2d(T(x), T(w), T(b), groups=5)})


# ---- pooling -----------------------------------------------------------------------------
@case("ops", "max_pool2d")
def _(c):
    x = c.randn(2, 3, 9, 7, shift=-3.0)  # all negative: zero padding would show
    t = T(x)
    body = """
    y1 = max_pool2d(x, 2);
    y2 = max_pool2d(x, 3, stride = 2, pad = 1);
    y3 = max_pool2d(x, [3, 2], stride = [1, 2]);
    """
    return dict(doc="max_pool2d: default stride = kernel on odd sizes, pad with -inf, pairs",
                ndl=simple("max_pool2d", body, [("x", ty(x))], ["y1", "y2", "y3"], None),
                inputs={"x": x},
                outputs={"y1": F.max_pool2d(t, 2), "y2": F.max_pool2d(t, 3, 2, 1),
                         "y3": F.max_pool2d(t, (3, 2), (1, 2))})


@case("ops", "avg_pool2d")
def _(c):
    x = c.randn(2, 3, 9, 7, shift=1.0)
    t = T(x)
    body = """
    y1 = avg_pool2d(x, 2);
    y2 = avg_pool2d(x, 3, stride = 2, pad = 1);
    y3 = avg_pool2d(x, [2, 3], stride = [2, 1], pad = [1, 1]);
    """
    return dict(doc="avg_pool2d: default stride, padding counted (count_include_pad), pairs",
                ndl=simple("avg_pool2d", body, [("x", ty(x))], ["y1", "y2", "y3"], None),
                inputs={"x": x},
                outputs={"y1": F.avg_pool2d(t, 2), "y2": F.avg_pool2d(t, 3, 2, 1),
                         "y3": F.avg_pool2d(t, (2, 3), (2, 1), (1, 1), count_include_pad=True)})


# ---- normalization ---------------------------------------------------------------------
@case("ops", "batch_norm")
def _(c):
    x = c.randn(2, 4, 3, 5)
    m, v = c.randn(4, scale=0.5), c.uniform(0.3, 2.0, 4)
    w, b = c.uniform(0.5, 1.5, 4), c.randn(4, scale=0.3)
    body = "y1 = batch_norm(x, rmean, rvar, w, b, eps = 1e-3);\ny2 = batch_norm(x, rmean, rvar);"
    return dict(doc="batch_norm (eval) with affine params and eps, and without affine",
                ndl=simple("batch_norm", body, [("x", ty(x))], ["y1", "y2"], True,
                           decls="param rmean: f32[4];\nparam rvar: f32[4];\nparam w: f32[4];\n"
                                 "param b: f32[4];"),
                inputs={"x": x}, weights={"rmean": m, "rvar": v, "w": w, "b": b},
                outputs={"y1": F.batch_norm(T(x), T(m), T(v), T(w), T(b), False, 0.0, 1e-3),
                         "y2": F.batch_norm(T(x), T(m), T(v), None, None, False, 0.0, 1e-5)})


@case("ops", "batch_norm_2d")
def _(c):
    x, m, v = c.randn(3, 5), c.randn(5), c.uniform(0.3, 2.0, 5)
    w, b = c.uniform(0.5, 1.5, 5), c.randn(5)
    return dict(doc="batch_norm on a rank-2 [N, C] input (F.batch_norm / BatchNorm1d), "
                    "operands as inputs, keyword w and b",
                ndl=simple("batch_norm_2d", "y = batch_norm(x, m, v, w = w, b = b);",
                           [("x", ty(x)), ("m", ty(m)), ("v", ty(v)), ("w", ty(w)), ("b", ty(b))],
                           ["y"], None),
                inputs={"x": x, "m": m, "v": v, "w": w, "b": b},
                outputs={"y": F.batch_norm(T(x), T(m), T(v), T(w), T(b), False, 0.0, 1e-5)})


@case("ops", "layer_norm")
def _(c):
    x, w, b = c.randn(2, 3, 7, scale=2.0, shift=0.5), c.uniform(0.5, 1.5, 7), c.randn(7)
    return dict(doc="layer_norm over the last dim with w, b; and without affine, eps = 1e-2",
                ndl=simple("layer_norm", "y1 = layer_norm(x, w, b);\ny2 = layer_norm(x, eps = 1e-2);",
                           [("x", ty(x))], ["y1", "y2"], True,
                           decls="param w: f32[7];\nparam b: f32[7];"),
                inputs={"x": x}, weights={"w": w, "b": b},
                outputs={"y1": F.layer_norm(T(x), (7,), T(w), T(b)),
                         "y2": F.layer_norm(T(x), (7,), None, None, 1e-2)})


@case("ops", "rms_norm")
def _(c):
    x, w = c.randn(2, 3, 6, scale=0.05), c.uniform(0.5, 1.5, 6)
    return dict(doc="rms_norm with w (default eps = float32 epsilon), and without w, eps = 1e-3 "
                    "(x small so eps matters)",
                ndl=simple("rms_norm", "y1 = rms_norm(x, w);\ny2 = rms_norm(x, eps = 1e-3);",
                           [("x", ty(x)), ("w", ty(w))], ["y1", "y2"], None),
                inputs={"x": x, "w": w},
                outputs={"y1": ref_rms_norm(T(x), T(w)), "y2": ref_rms_norm(T(x), None, 1e-3)})


# ---- attention -----------------------------------------------------------------------------
@case("ops", "attention")
def _(c):
    q, k, v = c.randn(2, 2, 5, 4), c.randn(2, 2, 5, 4), c.randn(2, 2, 5, 4)
    return dict(doc="attention [B,H,T,D], not causal, default scale 1/sqrt(D)",
                ndl=simple("attention", "y = attention(q, k, v);",
                           [("q", ty(q)), ("k", ty(k)), ("v", ty(v))], ["y"], None),
                inputs={"q": q, "k": k, "v": v},
                outputs={"y": ref_attention(T(q), T(k), T(v))})


@case("ops", "attention_causal")
def _(c):
    q, k, v = c.randn(2, 3, 6, 4), c.randn(2, 3, 6, 4), c.randn(2, 3, 6, 4)
    return dict(doc="causal attention, Tq = Tk = 6",
                ndl=simple("attention_causal", "y = attention(q, k, v, causal = true);",
                           [("q", ty(q)), ("k", ty(k)), ("v", ty(v))], ["y"], None),
                inputs={"q": q, "k": k, "v": v},
                outputs={"y": ref_attention(T(q), T(k), T(v), causal=True)})


@case("ops", "attention_cross")
def _(c):
    q, k, v = c.randn(2, 5, 8), c.randn(2, 7, 8), c.randn(2, 7, 3)
    return dict(doc="rank-3 attention with Tq = 5 != Tk = 7, Dv = 3 != D = 8, explicit scale",
                ndl=simple("attention_cross", "y = attention(q, k, v, scale = 0.25);",
                           [("q", ty(q)), ("k", ty(k)), ("v", ty(v))], ["y"], None),
                inputs={"q": q, "k": k, "v": v},
                outputs={"y": ref_attention(T(q), T(k), T(v), scale=0.25)})


@case("ops", "attention_causal_rect")
def _(c):
    q, k, v = c.randn(1, 2, 4, 5), c.randn(1, 2, 7, 5), c.randn(1, 2, 7, 5)
    q2, k2, v2 = c.randn(1, 2, 6, 5), c.randn(1, 2, 3, 5), c.randn(1, 2, 3, 5)
    body = ("y1 = attention(q, k, v, causal = true);\n"
            "y2 = attention(q2, k2, v2, causal = true, scale = 0.7);")
    return dict(doc="causal with Tq != Tk: top-left aligned mask (key j kept iff j <= i), "
                    "Tq < Tk and Tq > Tk",
                ndl=simple("attention_causal_rect", body,
                           [("q", ty(q)), ("k", ty(k)), ("v", ty(v)),
                            ("q2", ty(q2)), ("k2", ty(k2)), ("v2", ty(v2))], ["y1", "y2"], None),
                inputs={"q": q, "k": k, "v": v, "q2": q2, "k2": k2, "v2": v2},
                outputs={"y1": ref_attention(T(q), T(k), T(v), causal=True),
                         "y2": ref_attention(T(q2), T(k2), T(v2), causal=True, scale=0.7)})


@case("ops", "attention_2d")
def _(c):
    q, k, v = c.randn(5, 4), c.randn(6, 4), c.randn(6, 3)
    return dict(doc="rank-2 attention [T, D] (no batch axes), causal with Tq = 5 < Tk = 6",
                ndl=simple("attention_2d", "y1 = attention(q, k, v, causal = true);\n"
                                           "y2 = attention(q, k, v);",
                           [("q", ty(q)), ("k", ty(k)), ("v", ty(v))], ["y1", "y2"], None),
                inputs={"q": q, "k": k, "v": v},
                outputs={"y1": ref_attention(T(q), T(k), T(v), causal=True),
                         "y2": ref_attention(T(q), T(k), T(v))})


# ---- shape manipulation ------------------------------------------------------------------
@case("ops", "reshape")
def _(c):
    x = c.randn(2, 3, 4)
    body = "y1 = reshape(x, [4, -1]);\ny2 = reshape(x, [3, 2, 2, 2]);\ny3 = reshape(x, [-1]);"
    return dict(doc="reshape with and without -1",
                ndl=simple("reshape", body, [("x", ty(x))], ["y1", "y2", "y3"], None),
                inputs={"x": x},
                outputs={"y1": T(x).reshape(4, -1), "y2": T(x).reshape(3, 2, 2, 2),
                         "y3": T(x).reshape(-1)})


@case("ops", "flatten")
def _(c):
    x = c.randn(2, 3, 4, 5)
    body = "y1 = flatten(x);\ny2 = flatten(x, start = 2);\ny3 = flatten(x, start = 0);"
    return dict(doc="flatten from the default start 1, start 2, start 0",
                ndl=simple("flatten", body, [("x", ty(x))], ["y1", "y2", "y3"], None),
                inputs={"x": x},
                outputs={"y1": torch.flatten(T(x), 1), "y2": torch.flatten(T(x), 2),
                         "y3": torch.flatten(T(x), 0)})


@case("ops", "permute")
def _(c):
    x = c.randn(2, 3, 4, 5)
    return dict(doc="permute [2, 0, 3, 1]",
                ndl=simple("permute", "y = permute(x, [2, 0, 3, 1]);", [("x", ty(x))], ["y"], None),
                inputs={"x": x}, outputs={"y": T(x).permute(2, 0, 3, 1)})


@case("ops", "transpose")
def _(c):
    x = c.randn(2, 3, 5)
    return dict(doc="transpose(x, 0, 2) and with negative dims (-1, -2)",
                ndl=simple("transpose", "y1 = transpose(x, 0, 2);\ny2 = transpose(x, -1, -2);",
                           [("x", ty(x))], ["y1", "y2"], None),
                inputs={"x": x},
                outputs={"y1": T(x).transpose(0, 2), "y2": T(x).transpose(-1, -2)})


@case("ops", "concat")
def _(c):
    a, b, cc = c.randn(2, 1, 3), c.randn(2, 4, 3), c.randn(2, 2, 3)
    return dict(doc="concat of three tensors along dim 1, and of one tensor twice along dim = -1",
                ndl=simple("concat", "y1 = concat([a, b, c], 1);\ny2 = concat([a, a], dim = -1);",
                           [("a", ty(a)), ("b", ty(b)), ("c", ty(cc))], ["y1", "y2"], None),
                inputs={"a": a, "b": b, "c": cc},
                outputs={"y1": torch.cat([T(a), T(b), T(cc)], 1),
                         "y2": torch.cat([T(a), T(a)], -1)})


@case("ops", "split")
def _(c):
    x, z = c.randn(2, 8, 3), c.randn(3, 7)
    body = """
    let (a, b) = split(x, [3, 5], dim = 1);
    y1 = a;
    y2 = b * 2;
    let (p, q, r) = split(z, [1, 2, 4], dim = -1);
    y3 = r;
    y4 = q - p;
    """
    tx, tz = T(x), T(z)
    a, b = torch.split(tx, [3, 5], 1)
    p, q, r = torch.split(tz, [1, 2, 4], -1)
    return dict(doc="split with tuple unpacking: two parts on dim 1, three parts on dim -1",
                ndl=simple("split", body, [("x", ty(x)), ("z", ty(z))], ["y1", "y2", "y3", "y4"],
                           None),
                inputs={"x": x, "z": z},
                outputs={"y1": a, "y2": b * 2, "y3": r, "y4": q - p})


# ---- indexing and slicing -----------------------------------------------------------------
@case("ops", "slice")
def _(c):
    x = c.randn(4, 7, 6)
    t = T(x)
    body = "y1 = x[:, 1:5];\ny2 = x[1:-1, -3:];\ny3 = x[::2, 1:7:3, ::4];\ny4 = x[:2, :, -4:-1:2];"
    return dict(doc="slices: partial index lists, negative bounds, steps",
                ndl=simple("slice", body, [("x", ty(x))], ["y1", "y2", "y3", "y4"], None),
                inputs={"x": x},
                outputs={"y1": t[:, 1:5], "y2": t[1:-1, -3:], "y3": t[::2, 1:7:3, ::4],
                         "y4": t[:2, :, -4:-1:2]})


@case("ops", "index")
def _(c):
    x = c.randn(4, 7, 6)
    t = T(x)
    body = "y1 = x[1];\ny2 = x[-1, :, 2];\ny3 = x[:, -2];\ny4 = x[3, 2:4, -1];"
    return dict(doc="integer indices drop their axis; negative indices count from the end",
                ndl=simple("index", body, [("x", ty(x))], ["y1", "y2", "y3", "y4"], None),
                inputs={"x": x},
                outputs={"y1": t[1], "y2": t[-1, :, 2], "y3": t[:, -2], "y4": t[3, 2:4, -1]})


@case("ops", "index_none")
def _(c):
    x = c.randn(4, 7, 6)
    t = T(x)
    body = ("y1 = x[None];\ny2 = x[:, None, 1:3];\ny3 = x[2, None, :, None];\n"
            "y4 = x[:, 0, None] * x[None, :, 1];")
    return dict(doc="None inserts an axis, mixed with slices and integer indices",
                ndl=simple("index_none", body, [("x", ty(x))], ["y1", "y2", "y3", "y4"], None),
                inputs={"x": x},
                outputs={"y1": t[None], "y2": t[:, None, 1:3], "y3": t[2, None, :, None],
                         "y4": t[:, 0, None] * t[None, :, 1]})


@case("ops", "index_loop")
def _(c):
    x = c.randn(4, 3, 5)
    t = T(x)
    body = """
    let acc = x[0];
    for i in 1..4 {
      acc = acc + x[i] * i;
    }
    y = acc;
    """
    return dict(doc="x[i] with a compile-time loop variable, used also as a scalar",
                ndl=simple("index_loop", body, [("x", ty(x))], ["y"], None),
                inputs={"x": x},
                outputs={"y": t[0] + t[1] * 1 + t[2] * 2 + t[3] * 3})


# ---- gathers --------------------------------------------------------------------------------
@case("ops", "embedding")
def _(c):
    ids, table = c.ints(0, 11, 2, 5), c.randn(11, 4)
    return dict(doc="embedding with i64 ids [2,5] into a param table [11,4]",
                ndl=simple("embedding", "y = embedding(ids, table);", [("ids", ty(ids, "i64"))],
                           ["y"], True, decls="param table: f32[11, 4];"),
                inputs={"ids": ids}, weights={"table": table},
                outputs={"y": F.embedding(T(ids), T(table))})


@case("ops", "embedding_input")
def _(c):
    ids, table = c.ints(0, 6, 7), c.randn(6, 3)
    return dict(doc="embedding with both operands as model inputs, rank-1 ids",
                ndl=simple("embedding_input", "y = embedding(ids, table);",
                           [("ids", ty(ids, "i64")), ("table", ty(table))], ["y"], None),
                inputs={"ids": ids, "table": table},
                outputs={"y": F.embedding(T(ids), T(table))})


@case("ops", "take")
def _(c):
    x = c.randn(3, 5)
    idx = np.array([[0, 14, 7], [-1, 3, -15]], dtype=np.int64)
    return dict(doc="take: flat gather with an i64 index tensor [2,3], negative indices as torch",
                ndl=simple("take", "y = take(x, idx);", [("x", ty(x)), ("idx", ty(idx, "i64"))],
                           ["y"], None),
                inputs={"x": x, "idx": idx}, outputs={"y": torch.take(T(x), T(idx))})


@case("ops", "take_param")
def _(c):
    x, pool = c.randn(4, 3), c.randn(20)
    idx = c.ints(0, 20, 4, 3)
    return dict(doc="take from params: an i64 index param stored as I32 in the weight file",
                ndl=simple("take_param", "y = x + take(pool, idx);", [("x", ty(x))], ["y"], True,
                           decls="param pool: f32[20];\nparam idx: i64[4, 3];"),
                inputs={"x": x}, weights={"pool": pool, "idx": idx.astype(np.int32)},
                outputs={"y": T(x) + torch.take(T(pool), T(idx))})


@case("ops", "take_roast")
def _(c):
    x, pool = c.randn(2, 6), c.randn(10)
    idx = c.ints(0, 10, 4, 6)
    g = np.where(c.rng.random((4, 6)) < 0.5, -1.0, 1.0).astype(np.float32)
    b = c.randn(4)
    decls = """
    param pool: f32[10];
    param idx: i64[4, 6];
    param g: f32[4, 6];
    fc = Linear(6, 4, weight = take(pool, idx) * g * 0.5);
    """
    wt = torch.take(T(pool), T(idx)) * T(g) * 0.5
    return dict(doc="FakeRoast-style Linear weight = take(pool, idx) * g * scale (spec 8.3, 8.5)",
                ndl=simple("take_roast", "y = fc(x);", [("x", ty(x))], ["y"], True, decls=decls),
                inputs={"x": x}, weights={"pool": pool, "idx": idx, "g": g, "fc.bias": b},
                outputs={"y": F.linear(T(x), wt, T(b))})


@case("ops", "kron")
def _(c):
    a, b, d = c.randn(2, 3), c.randn(3, 2), c.randn(1, 4)
    return dict(doc="kron [2,3] x [3,2] -> [6,6] and [2,3] x [1,4] -> [2,12]",
                ndl=simple("kron", "y1 = kron(a, b);\ny2 = kron(a, d);",
                           [("a", ty(a)), ("b", ty(b)), ("d", ty(d))], ["y1", "y2"], None),
                inputs={"a": a, "b": b, "d": d},
                outputs={"y1": torch.kron(T(a), T(b)), "y2": torch.kron(T(a), T(d))})


@case("ops", "lowrank")
def _(c):
    u, v, x = c.randn(5, 2), c.randn(7, 2), c.randn(3, 7)
    return dict(doc="lowrank(u, v) = u @ v.T [5,2],[7,2] -> [5,7]; and as a Linear weight",
                ndl=simple("lowrank", "y1 = lowrank(u, v);\ny2 = linear(x, lowrank(u, v));",
                           [("u", ty(u)), ("v", ty(v)), ("x", ty(x))], ["y1", "y2"], None),
                inputs={"u": u, "v": v, "x": x},
                outputs={"y1": T(u) @ T(v).T, "y2": F.linear(T(x), T(u) @ T(v).T)})


@case("ops", "cast")
def _(c):
    x = c.off_integer(-9, 9, 3, 5)
    ids = c.ints(-4, 40, 2, 3)
    body = """
    y1 = cast(x, i64);
    y2 = cast(x, i32);
    y3 = cast(ids, f32) * 0.5;
    y4 = cast(cast(x, i64), f32);
    y5 = cast(cast(ids, i32), f32);
    """
    t = T(x)
    return dict(doc="cast f32 -> i64/i32 (truncation toward zero), i64 -> f32, i64 -> i32 -> f32",
                ndl=simple("cast", body, [("x", ty(x)), ("ids", ty(ids, "i64"))],
                           ["y1", "y2", "y3", "y4", "y5"], None),
                inputs={"x": x, "ids": ids},
                outputs={"y1": t.to(torch.int64), "y2": t.to(torch.int32),
                         "y3": T(ids).to(torch.float32) * 0.5,
                         "y4": t.to(torch.int64).to(torch.float32),
                         "y5": T(ids).to(torch.int32).to(torch.float32)})


@case("ops", "cast_half")
def _(c):
    # random values, then the edges: f16 ties (2049 and 2051 lie halfway), its largest
    # finite value and the largest value that rounds to it, subnormals (6e-8 is about
    # 2^-24), bf16 ties (257, 259), a float subnormal, signed zeros (goldens are finite:
    # overflow to inf is checked by tests/unit/test_kernels.c)
    edges = [2049.0, 2051.0, 65504.0, 65519.0, -65519.0, 4097.0, 6.0e-8, 2.0e-8, -3.0e-6,
             257.0, 259.0, 60001.0, 1.0e-40, 0.0, -0.0, 3.14159265]
    x = np.concatenate([c.randn(32, scale=3.0), np.array(edges, np.float32)]).reshape(6, 8)
    ids = np.array([[2049, -2051, 65519], [257, 4097, -3]], np.int64)
    body = """
    y1 = cast(x, f16);
    y2 = cast(x, bf16);
    y3 = cast(ids, f16);
    y4 = cast(cast(x * 1.0e-10, bf16), f16) * 2.0;
    """
    t = T(x)
    return dict(doc="cast to f16/bf16 rounds as x.to(float16/bfloat16).float() (ties to even, "
                    "subnormals, the largest f16); int -> f16",
                ndl=simple("cast_half", body, [("x", ty(x)), ("ids", ty(ids, "i64"))],
                           ["y1", "y2", "y3", "y4"], None),
                inputs={"x": x, "ids": ids},
                outputs={"y1": t.half().float(), "y2": t.bfloat16().float(),
                         "y3": T(ids).half().float(),
                         "y4": (t * 1.0e-10).bfloat16().half().float() * 2.0})


@case("ops", "neg_int")
def _(c):
    a = c.ints(-50, 50, 3, 4, dtype=np.int32)
    b = c.ints(-2**40, 2**40, 2, 5)
    body = """
    y1 = -a;
    y2 = neg(b);
    y3 = -(a * 3) + 7;
    """
    return dict(doc="unary minus and neg on i32/i64 tensors (torch.neg keeps the int dtype)",
                ndl=simple("neg_int", body, [("a", ty(a, "i32")), ("b", ty(b, "i64"))],
                           ["y1", "y2", "y3"], None),
                inputs={"a": a, "b": b},
                outputs={"y1": torch.neg(T(a)), "y2": torch.neg(T(b)),
                         "y3": torch.neg(T(a) * 3) + 7})


# ---- hashing (spec 8.3, 8.4) -----------------------------------------------------------------
@case("ops", "hashed")
def _(c):
    pool, x = c.randn(13), c.randn(2, 8)
    body = """
    y1 = hashed(pool, [3, 7], 42);
    y2 = hashed(pool, [2, 2, 5], 3735928559);
    y3 = linear(x, hashed(pool, [5, 8], 7));
    """
    return dict(doc="hashed(pool, shape, seed): ROAST random sharing, seeds 42, 0xDEADBEEF, 7",
                ndl=simple("hashed", body, [("x", ty(x))], ["y1", "y2", "y3"], True,
                           decls="param pool: f32[13];"),
                inputs={"x": x}, weights={"pool": pool},
                outputs={"y1": ref_hashed(pool, (3, 7), 42),
                         "y2": ref_hashed(pool, (2, 2, 5), 3735928559),
                         "y3": F.linear(T(x), T(ref_hashed(pool, (5, 8), 7)))})


@case("ops", "hashed_linear")
def _(c):
    pool, x, b = c.randn(11), c.randn(3, 8), c.randn(5)
    return dict(doc="Linear(8, 5, weight = hashed(pool, [5, 8], 0x9E3779B1)) with a stored bias",
                ndl=simple("hashed_linear", "y = fc(x);", [("x", ty(x))], ["y"], True,
                           decls="param pool: f32[11];\n"
                                 "fc = Linear(8, 5, weight = hashed(pool, [5, 8], 2654435761));"),
                inputs={"x": x}, weights={"pool": pool, "fc.bias": b},
                outputs={"y": F.linear(T(x), T(ref_hashed(pool, (5, 8), 2654435761)), T(b))})


@case("ops", "hash_route")
def _(c):
    ids = np.array([0, 1, 2, 7, 1000, 65535, 4294967295, 4294967301, 2 ** 40 + 3, -1, 123456789],
                   dtype=np.int64)
    body = "y1 = hash_route(ids, 8, 0);\ny2 = hash_route(ids, 5, 4294967295);"
    return dict(doc="hash_route: fmix32(low32(id) ^ seed) mod E, i64; ids above 2^32 and negative",
                ndl=simple("hash_route", body, [("ids", ty(ids, "i64"))], ["y1", "y2"], None),
                inputs={"ids": ids},
                outputs={"y1": ref_hash_route(ids, 8, 0), "y2": ref_hash_route(ids, 5, 4294967295)})
