#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""hyper_cases.py - parameter expression / hypernetwork goldens (spec 8.5, issue 9) for tests/hyper.

Run from anywhere (Debian's python3-torch; the python3 first on PATH may lack torch):
    /usr/bin/python3 tests/reference/hyper_cases.py
For each case <stem> it writes tests/hyper/<stem>.ndl and its .in/.out/.w.safetensors
(golden.write_case, deterministic seeds). The PyTorch model computes its weights the way
the paper's code does (a hypernetwork forward, torch.kron sums, OFA's transform), then
runs the target network. Each .ndl also carries the parameter bytes each mode must store,
which tests/hyper/check_hyper.sh compares with `--report`'s total.parameter_bytes:
    # FOLD-BYTES: N   the target network's own state_dict (predicted weights and the
                      ordinary parameters): what --hyper fold stores
    # INIT-BYTES: N   the hypernetwork, its embeddings or factors, and the ordinary
                      parameters: what --hyper init stores
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import golden  # noqa: E402
from golden import T  # noqa: E402



def case(stem):
    """Registers a case of tests/hyper (golden.case, default tolerance)."""
    return golden.case("hyper", stem)


def nbytes(*arrays):
    return 4 * sum(int(a.size) for a in arrays)


def header(fold_bytes, init_bytes):
    return "# FOLD-BYTES: %d\n# INIT-BYTES: %d\n" % (fold_bytes, init_bytes)


@case("logah")
def _(c):
    # LoGAH-style: one small hypernetwork maps a per-layer embedding to the two low-rank
    # factors of that layer's weight (W = U V^T). The call is written twice per layer (once
    # per factor): ndlc computes it once.
    d, r, n, e, hid = 96, 2, 4, 8, 16
    hw1, hb1 = c.randn(hid, e, scale=0.4), c.randn(hid, scale=0.1)
    hw2, hb2 = c.randn(2 * d * r, hid, scale=0.3), c.randn(2 * d * r, scale=0.1)
    emb = c.randn(n, e)
    biases = [c.randn(d, scale=0.1) for _ in range(n)]
    x = c.randn(3, d)
    with torch.no_grad():
        hyper = lambda z: F.linear(F.relu(F.linear(z, T(hw1), T(hb1))), T(hw2), T(hb2))
        h, ws = T(x), []
        for i in range(n):
            out = hyper(T(emb)[i])
            u, v = out[:d * r].reshape(d, r), out[d * r:].reshape(d, r)
            ws.append(u @ v.T)
            h = torch.tanh(F.linear(h, ws[-1], T(biases[i])))
    fold = nbytes(*[w.numpy() for w in ws], *biases)
    init = nbytes(hw1, hb1, hw2, hb2, emb, *biases)
    ndl = header(fold, init) + """
model Logah {
  input x: f32[B, 96];
  output y;
  weights "logah.w.safetensors";

  hyper  = Sequential(Linear(8, 16), ReLU(), Linear(16, 2 * 96 * 2));
  param  emb: f32[4, 8];                     # one embedding per target layer
  layers = [Linear(96, 96, weight = lowrank(
              reshape(hyper(emb[i])[0:192], [96, 2]),
              reshape(hyper(emb[i])[192:384], [96, 2]))) for i in 0..4];

  forward {
    let h = x;
    for l in layers { h = tanh(l(h)); }
    y = h;
  }
}
"""
    weights = {"hyper.0.weight": hw1, "hyper.0.bias": hb1, "hyper.2.weight": hw2, "hyper.2.bias": hb2,
               "emb": emb}
    for i in range(n):
        weights["layers.%d.bias" % i] = biases[i]
    return dict(doc="LoGAH-style low-rank hypernetwork predicting four 96x96 Linear weights",
                ndl=ndl, inputs={"x": x}, outputs={"y": h}, weights=weights)


@case("lowrank_gemm")
def _(c):
    # a low-rank factorized Linear, W = U V^T with stored factors, large enough (256 x 16 x
    # 256 = 2^20 multiply-adds) that --hyper fold evaluates the product with the runtime's
    # GEMM rather than the interpreter
    d, r = 256, 16
    u, v = c.randn(d, r, scale=0.25), c.randn(d, r, scale=0.25)
    b = c.randn(d, scale=0.1)
    x = c.randn(2, d)
    with torch.no_grad():
        w = T(u) @ T(v).T
        y = F.linear(T(x), w, T(b))
    ndl = header(nbytes(w.numpy(), b), nbytes(u, v, b)) + """
model LowrankGemm {
  input x: f32[N, 256];
  output y;
  weights "lowrank_gemm.w.safetensors";

  param U: f32[256, 16];
  param V: f32[256, 16];
  fc = Linear(256, 256, weight = lowrank(U, V));

  forward {
    y = fc(x);
  }
}
"""
    return dict(doc="low-rank Linear U V^T of 2^20 multiply-adds (folded with the runtime GEMM)",
                ndl=ndl, inputs={"x": x}, outputs={"y": y}, weights={"U": u, "V": v, "fc.bias": b})


def phm_sum(A, S):
    """PHM/PHC weight: sum_i kron(A[i], S[i]) (Zhang et al. 2021, Grassucci et al. 2022)."""
    return sum(torch.kron(T(A)[i], T(S)[i]) for i in range(A.shape[0]))


def kron_terms(n, a="A", s="S"):
    return " + ".join("kron(%s[%d], %s[%d])" % (a, i, s, i) for i in range(n))


def phnn_linear(c, n, stem):
    # a parameterized hypercomplex (PHM) Linear: W = sum_i kron(A_i, S_i), A_i n x n,
    # S_i (out/n) x (in/n): 1/n of a dense layer's parameters
    fin, fout = 32, 48
    A, S = c.randn(n, n, n, scale=0.5), c.randn(n, fout // n, fin // n, scale=0.3)
    b, w2, b2 = c.randn(fout, scale=0.1), c.randn(10, fout, scale=0.2), c.randn(10, scale=0.1)
    x = c.randn(4, fin)
    with torch.no_grad():
        w = phm_sum(A, S)
        y = F.linear(F.gelu(F.linear(T(x), w, T(b))), T(w2), T(b2))
    fold = nbytes(w.numpy(), b, w2, b2)
    init = nbytes(A, S, b, w2, b2)
    ndl = header(fold, init) + """
model PhnnLinear%d {
  input x: f32[N, %d];
  output y;
  weights "%s.w.safetensors";

  param A: f32[%d, %d, %d];
  param S: f32[%d, %d, %d];
  phm  = Linear(%d, %d, weight = %s);
  head = Linear(%d, 10);

  forward {
    y = head(gelu(phm(x)));
  }
}
""" % (n, fin, stem, n, n, n, n, fout // n, fin // n, fin, fout, kron_terms(n), fout)
    return dict(doc="PHNN (PHM) Linear with n = %d: weight = sum of %d Kronecker products" % (n, n),
                ndl=ndl, inputs={"x": x}, outputs={"y": y},
                weights={"A": A, "S": S, "phm.bias": b, "head.weight": w2, "head.bias": b2})


@case("phnn_linear2")
def _(c):
    return phnn_linear(c, 2, "phnn_linear2")


@case("phnn_linear4")
def _(c):
    return phnn_linear(c, 4, "phnn_linear4")


def phnn_conv(c, n, stem):
    # a PHC convolution: W = sum_i kron(A_i, S_i) with A_i n x n (as [n, n, 1, 1], so the
    # product stays [out, in, k, k]) and S_i [out/n, in/n, k, k]
    cin, cout, k = 8, 16, 3
    A = c.randn(n, n, n, 1, 1, scale=0.5)
    S = c.randn(n, cout // n, cin // n, k, k, scale=0.3)
    b = c.randn(cout, scale=0.1)
    x = c.randn(2, cin, 6, 6)
    with torch.no_grad():
        w = phm_sum(A, S)
        y = F.relu(F.conv2d(T(x), w, T(b), padding=1))
    fold = nbytes(w.numpy(), b)
    init = nbytes(A, S, b)
    ndl = header(fold, init) + """
model PhnnConv%d {
  input x: f32[N, %d, 6, 6];
  output y;
  weights "%s.w.safetensors";

  param A: f32[%d, %d, %d, 1, 1];
  param S: f32[%d, %d, %d, %d, %d];
  conv = Conv2d(%d, %d, %d, pad = 1, weight = %s);

  forward {
    y = relu(conv(x));
  }
}
""" % (n, cin, stem, n, n, n, n, cout // n, cin // n, k, k, cin, cout, k, kron_terms(n))
    return dict(doc="PHNN (PHC) Conv2d with n = %d: weight = sum of %d Kronecker products" % (n, n),
                ndl=ndl, inputs={"x": x}, outputs={"y": y}, weights={"A": A, "S": S, "conv.bias": b})


@case("phnn_conv2")
def _(c):
    return phnn_conv(c, 2, "phnn_conv2")


@case("phnn_conv4")
def _(c):
    return phnn_conv(c, 4, "phnn_conv4")


@case("mip")
def _(c):
    # MIP-style (model-initialization prediction) hypernetwork: a layer-normalized MLP over a
    # per-layer embedding predicts the full weight, which is then weight-normalized per
    # output row with a learned gain; the normalization is part of the expression
    d, n, e, hid = 24, 2, 6, 12
    lw, lb = c.randn(e, scale=0.3, shift=1.0), c.randn(e, scale=0.1)
    hw1, hb1 = c.randn(hid, e, scale=0.4), c.randn(hid, scale=0.1)
    hw2, hb2 = c.randn(d * d, hid, scale=0.3), c.randn(d * d, scale=0.1)
    emb = c.randn(n, e)
    gains = [c.away(d, 1) for _ in range(n)]
    biases = [c.randn(d, scale=0.1) for _ in range(n)]
    x = c.randn(5, d)
    with torch.no_grad():
        def predict(z, g):
            z = F.layer_norm(z, (e,), T(lw), T(lb))
            v = F.linear(F.silu(F.linear(z, T(hw1), T(hb1))), T(hw2), T(hb2)).reshape(d, d)
            return T(g) * v / torch.sqrt(torch.sum(v * v, dim=1, keepdim=True) + 1e-6)
        h, ws = T(x), []
        for i in range(n):
            ws.append(predict(T(emb)[i], gains[i]))
            h = F.relu(F.linear(h, ws[-1], T(biases[i])))
    fold = nbytes(*[w.numpy() for w in ws], *biases)
    init = nbytes(lw, lb, hw1, hb1, hw2, hb2, emb, *gains, *biases)
    ndl = header(fold, init) + """
module Predicted(d: int) {
  param g: f32[d, 1];                                  # weight-norm gain per output row
  param b: f32[d];
  forward(x, v) {                                      # v: the raw prediction [d, d]
    return linear(x, g * v / sqrt(sum(v * v, dims = [1], keepdim = true) + 1e-6), b);
  }
}

model Mip {
  input x: f32[B, 24];
  output y;
  weights "mip.w.safetensors";

  norm   = LayerNorm(6);
  hyper  = Sequential(Linear(6, 12), SiLU(), Linear(12, 24 * 24));
  param  emb: f32[2, 6];
  layers = [Predicted(24) for i in 0..2];

  forward {
    let h = x;
    for i in 0..2 {
      h = relu(layers[i](h, reshape(hyper(norm(emb[i])), [24, 24])));
    }
    y = h;
  }
}
"""
    weights = {"norm.weight": lw, "norm.bias": lb, "hyper.0.weight": hw1, "hyper.0.bias": hb1,
               "hyper.2.weight": hw2, "hyper.2.bias": hb2, "emb": emb}
    for i in range(n):
        weights["layers.%d.g" % i] = gains[i]
        weights["layers.%d.b" % i] = biases[i]
    return dict(doc="MIP-style hypernetwork: layer-normalized MLP, weight normalization inside the expression",
                ndl=ndl, inputs={"x": x}, outputs={"y": h}, weights=weights)


@case("ofa_transform")
def _(c):
    # Once-for-All's elastic kernel written as a parameter expression: the centred 3x3 crop
    # of a stored 5x5 kernel, transformed by the 9x9 matrix (flat @ M^T)
    cin, cout = 4, 6
    w5, m53 = c.randn(cout, cin, 5, 5, scale=0.3), c.randn(9, 9, scale=0.3)
    b = c.randn(cout, scale=0.1)
    x = c.randn(2, cin, 7, 7)
    with torch.no_grad():
        crop = T(w5)[:, :, 1:4, 1:4].reshape(cout * cin, 9)
        w = F.linear(crop, T(m53)).reshape(cout, cin, 3, 3)
        y = F.conv2d(T(x), w, T(b), padding=1)
    fold = nbytes(w.numpy(), b)
    init = nbytes(w5, m53, b)
    ndl = header(fold, init) + """
model OfaTransform {
  input x: f32[N, 4, 7, 7];
  output y;
  weights "ofa_transform.w.safetensors";

  param w5: f32[6, 4, 5, 5];
  param m53: f32[9, 9];
  conv = Conv2d(4, 6, 3, pad = 1, weight = reshape(
           matmul(reshape(w5[:, :, 1:4, 1:4], [24, 9]), transpose(m53, 0, 1)), [6, 4, 3, 3]));

  forward {
    y = conv(x);
  }
}
"""
    return dict(doc="OFA kernel transform (5x5 crop to 3x3, then the 9x9 matrix) as a parameter expression",
                ndl=ndl, inputs={"x": x}, outputs={"y": y}, weights={"w5": w5, "m53": m53, "conv.bias": b})


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    golden.HEADER = ("# {stem}: {doc}\n"
                     "# Generated by tests/reference/hyper_cases.py (case '{stem}'); edit it there.\n")
    os.makedirs(os.path.join(ROOT, "tests", "hyper"), exist_ok=True)
    for folder, stem, tol, fn in golden.CASES:
        golden.write_case(os.path.join(ROOT, "tests"), folder, stem, tol, fn)
    print("hyper_cases: %d cases written to tests/hyper" % len(golden.CASES))


if __name__ == "__main__":
    main()
