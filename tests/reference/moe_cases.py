#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""moe_cases.py - mixture-of-experts goldens (spec 8.4, issue 8) for tests/moe and tests/ops.

Run from anywhere (Debian's python3-torch; the python3 first on PATH may lack torch):
    /usr/bin/python3 tests/reference/moe_cases.py
For each case <stem> it writes tests/<folder>/<stem>.ndl and its .in/.out/.w.safetensors
(golden.write_case, deterministic seeds). The reference runs each expert only on the tokens
routed to it, as Hugging Face's Mixtral block does (index_add_ of gate * expert(x[tokens])),
with the routing of spec 8.4 written out: softmax, a stable descending sort (so the lower
expert index wins ties), then top-k or the cumulative threshold. Every case asserts that no
routing decision is a near-tie (a margin of 1e-3), as spec section 5 asks of tests.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import golden  # noqa: E402
from golden import T, ref_hash_route, state_dict_np  # noqa: E402

CASES = []
MARGIN = 1e-3
LOADS = []   # the gate matrix of each moe_ref call of the case being run, in program order
# cases whose executable's --repeat load lines are checked: two layers on one pool, the
# threshold's fractional mean, experts without tokens, assign, a zero-weight pick, RMoE
LOAD_CASES = ("unipool", "dynamoe", "one_expert", "hash_routing", "norm_router", "rmoe_gru_router")


def case(stem, folder="moe"):
    def deco(fn):
        CASES.append((folder, stem, fn))
        return fn
    return deco


def randomize_(m, c, scale=0.3):
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(T(c.randn(*p.shape, scale=scale)))
    return m.eval()


# ---- the reference: routing and per-expert evaluation ------------------------------------------

def route(scores, kind, k, p=None, renorm=True, softmax=True):
    """Gate matrix [T, E]: combine weight of each selected (token, expert), 0 elsewhere."""
    probs = F.softmax(scores, dim=-1) if softmax else scores
    t_n, e_n = probs.shape
    sv, si = torch.sort(probs, dim=-1, descending=True, stable=True)
    gates = torch.zeros(t_n, e_n)
    for t in range(t_n):
        if kind == "topk":
            n = k
            if k < e_n:
                assert sv[t, k - 1] - sv[t, k] > MARGIN, ("near-tie in top-k", t)
        else:
            cum = torch.cumsum(sv[t], dim=0)
            assert torch.all((cum - p).abs() > MARGIN), ("near-tie at the threshold", t)
            n = min(int((cum < p).sum()) + 1, k)
        sel = si[t, :n]
        w = probs[t, sel]
        if renorm:
            w = w / w.sum()
        gates[t, sel] = w
    return gates


def assign_gates(idx, e_n):
    gates = torch.zeros(len(idx), e_n)
    gates[torch.arange(len(idx)), torch.as_tensor(np.asarray(idx, dtype=np.int64))] = 1.0
    return gates


def moe_ref(x, gates, experts, shared=()):
    """y[t] = sum over selected e of gates[t, e] * experts[e](x[t]) + sum of shared m(x[t])."""
    LOADS.append(gates.clone())
    y = None
    for e, ex in enumerate(experts):
        tok = torch.nonzero(gates[:, e]).flatten()
        if y is None:
            y = torch.zeros(x.shape[0], ex(x[:1]).shape[1])
        if len(tok):
            y.index_add_(0, tok, gates[tok, e, None] * ex(x[tok]))
    for m in shared:
        y = y + m(x)
    return y


# ---- expert modules --------------------------------------------------------------------------------

class FFN(nn.Module):
    def __init__(self, d, h, act=F.relu):
        super().__init__()
        self.fc1 = nn.Linear(d, h)
        self.fc2 = nn.Linear(h, d)
        self.act = act

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class MixtralExpert(nn.Module):
    """Mixtral's MixtralBlockSparseTop2MLP: w2(silu(w1 x) * w3 x), no biases."""

    def __init__(self, d, h):
        super().__init__()
        self.w1 = nn.Linear(d, h, bias=False)
        self.w2 = nn.Linear(h, d, bias=False)
        self.w3 = nn.Linear(d, h, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


FFN_NDL = """
module FFN(d: int, h: int) {
  fc1 = Linear(d, h);
  fc2 = Linear(h, d);
  forward(x) { return fc2(relu(fc1(x))); }
}
"""

MIXTRAL_NDL = """
module MixtralExpert(d: int, h: int) {
  w1 = Linear(d, h, bias = false);
  w2 = Linear(h, d, bias = false);
  w3 = Linear(d, h, bias = false);
  forward(x) { return w2(silu(w1(x)) * w3(x)); }
}
"""


class Routed(nn.Module):
    """A linear router and a list of experts (state_dict keys gate.*, experts.N.*)."""

    def __init__(self, d, n, make, bias=False):
        super().__init__()
        self.gate = nn.Linear(d, n, bias=bias)
        self.experts = nn.ModuleList([make() for _ in range(n)])


def linear_router_case(c, stem_doc, ndl_expert, make, d, n, tokens, kind, k, p=None,
                       renorm=True, softmax=True, policy=None, x_decl=None):
    m = randomize_(Routed(d, n, make), c)
    x = c.randn(tokens, d)
    with torch.no_grad():
        g = route(m.gate(T(x)), kind, k, p, renorm, softmax)
        y = moe_ref(T(x), g, m.experts)
    ndl = ndl_expert + """
model %(name)s {
  input x: %(decl)s;
  output y;
  weights "%(stem)s.w.safetensors";

  experts = [%(expert)s for i in 0..%(n)d];
  gate    = Linear(%(d)d, %(n)d, bias = false);

  forward { y = moe(x, gate(x), experts, %(policy)s); }
}
""" % dict(name=golden.camel(stem_doc[0]), decl=x_decl or "f32[T, %d]" % d, stem=stem_doc[0],
           expert=make.ndl, n=n, d=d, policy=policy)
    return dict(doc=stem_doc[1], ndl=ndl, inputs={"x": x}, weights=state_dict_np(m), outputs={"y": y})


def ffn(d, h):
    f = lambda: FFN(d, h)  # noqa: E731
    f.ndl = "FFN(%d, %d)" % (d, h)
    return f


def mixtral(d, h):
    f = lambda: MixtralExpert(d, h)  # noqa: E731
    f.ndl = "MixtralExpert(%d, %d)" % (d, h)
    return f


def module_case(c, m, ndl, doc, tokens=8, d=16):
    """A case whose PyTorch module m maps x [tokens, d] to y."""
    m = randomize_(m, c)
    x = c.randn(tokens, d)
    with torch.no_grad():
        y = m(T(x))
    return dict(doc=doc, ndl=ndl, inputs={"x": x}, weights=state_dict_np(m), outputs={"y": y})


# ---- cases ------------------------------------------------------------------------------------------

@case("moe_topk", folder="ops")
def _(c):
    return linear_router_case(c, ("moe_topk", "moe with top-2 routing: moe_route, moe_gather, moe_scatter"),
                              FFN_NDL, ffn(8, 12), 8, 3, 5, "topk", 2, policy="topk(2)")


@case("moe_assign", folder="ops")
def _(c):
    m = randomize_(nn.ModuleList([FFN(8, 12) for _ in range(3)]), c)
    x = c.randn(5, 8)
    idx = np.array([2, 0, 2, 1, 0], dtype=np.int32)
    with torch.no_grad():
        y = moe_ref(T(x), assign_gates(idx, 3), m)
    ndl = FFN_NDL + """
model MoeAssign {
  input x: f32[T, 8];
  input idx: i32[T];
  output y;
  weights "moe_assign.w.safetensors";
  experts = [FFN(8, 12) for i in 0..3];
  forward { y = moe(x, None, experts, assign(idx)); }
}
"""
    return dict(doc="moe with fixed routing: moe_assign", ndl=ndl, inputs={"x": x, "idx": idx},
                weights={"experts." + k: v for k, v in state_dict_np(m).items()}, outputs={"y": y})


@case("mixtral")
def _(c):
    return linear_router_case(c, ("mixtral", "Mixtral block: top-2 of 4 SiLU-gated experts, renormalized"),
                              MIXTRAL_NDL, mixtral(16, 32), 16, 4, 8, "topk", 2, policy="topk(2)")


@case("switch")
def _(c):
    return linear_router_case(c, ("switch", "Switch Transformer: top-1, probability kept (no renormalization)"),
                              FFN_NDL, ffn(16, 32), 16, 4, 8, "topk", 1, renorm=False,
                              policy="topk(1, renorm = false)")


@case("dynamoe")
def _(c):
    return linear_router_case(c, ("dynamoe", "DynaMoE: threshold 0.6, at most 3 experts per token"),
                              FFN_NDL, ffn(16, 32), 16, 4, 8, "threshold", 3, p=0.6,
                              policy="threshold(0.6, 3)")


@case("k_equals_e")
def _(c):
    return linear_router_case(c, ("k_equals_e", "top-k with k = E: every expert on every token"),
                              FFN_NDL, ffn(16, 32), 16, 4, 6, "topk", 4, policy="topk(4)")


@case("one_token")
def _(c):
    return linear_router_case(c, ("one_token", "T = 1 (a static single token), top-2"),
                              MIXTRAL_NDL, mixtral(16, 32), 16, 4, 1, "topk", 2, policy="topk(2)",
                              x_decl="f32[1, 16]")


@case("one_expert")
def _(c):
    """A router bias that sends every token to expert 1: experts 0, 2, 3 receive no token."""
    m = randomize_(Routed(16, 4, ffn(16, 32), bias=True), c)
    with torch.no_grad():
        m.gate.bias.copy_(torch.tensor([0.0, 20.0, 0.0, 0.0]))
    x = c.randn(6, 16)
    with torch.no_grad():
        g = route(m.gate(T(x)), "topk", 1, renorm=False)
        assert torch.all(g[:, 1] > 0)
        y = moe_ref(T(x), g, m.experts)
    ndl = FFN_NDL + """
model OneExpert {
  input x: f32[T, 16];
  output y;
  weights "one_expert.w.safetensors";
  experts = [FFN(16, 32) for i in 0..4];
  gate    = Linear(16, 4);
  forward { y = moe(x, gate(x), experts, topk(1, renorm = false)); }
}
"""
    return dict(doc="all tokens routed to one expert; three experts receive no token", ndl=ndl,
                inputs={"x": x}, weights=state_dict_np(m), outputs={"y": y})


class HashMoe(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.experts = nn.ModuleList([FFN(16, 32) for _ in range(4)])


@case("hash_routing")
def _(c):
    m = randomize_(HashMoe(), c)
    ids = c.ints(0, 50, 10)
    route_idx = ref_hash_route(ids, 4, 2654435761)
    assert len(set(route_idx.tolist())) >= 3, "hash routing should spread the tokens"
    with torch.no_grad():
        x = m.emb(T(ids))
        y = moe_ref(x, assign_gates(route_idx, 4), m.experts)
    ndl = FFN_NDL + """
model HashRouting {
  input ids: i64[T];
  output y;
  weights "hash_routing.w.safetensors";
  emb     = Embedding(50, 16);
  experts = [FFN(16, 32) for i in 0..4];
  forward { y = moe(emb(ids), None, experts, assign(hash_route(ids, 4, 2654435761))); }
}
"""
    return dict(doc="hash routing (Roller et al.): the expert of a token is a hash of its id",
                ndl=ndl, inputs={"ids": ids}, weights=state_dict_np(m), outputs={"y": y})


class UniPool(nn.Module):
    """Two layers with their own routers over one global expert pool."""

    def __init__(self):
        super().__init__()
        self.pool = nn.ModuleList([FFN(16, 32) for _ in range(4)])
        self.router0 = nn.Linear(16, 4, bias=False)
        self.router1 = nn.Linear(16, 4, bias=False)

    def forward(self, x):
        h = x + moe_ref(x, route(self.router0(x), "topk", 2), self.pool)
        return h + moe_ref(h, route(self.router1(h), "topk", 2), self.pool)


@case("unipool")
def _(c):
    return module_case(c, UniPool(), FFN_NDL + """
model Unipool {
  input x: f32[T, 16];
  output y;
  weights "unipool.w.safetensors";
  pool    = [FFN(16, 32) for i in 0..4];   # one expert pool shared by both layers
  router0 = Linear(16, 4, bias = false);
  router1 = Linear(16, 4, bias = false);
  forward {
    let h = x + moe(x, router0(x), pool, topk(2));
    y = h + moe(h, router1(h), pool, topk(2));
  }
}
""",
                       "UniPool: two MoE layers sharing one global expert pool")


class CosineMoe(nn.Module):
    """Cosine router (X-MoE): normalized projection against normalized centroids / 0.1."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 8, bias=False)
        self.centroids = nn.Parameter(torch.zeros(4, 8))
        self.experts = nn.ModuleList([FFN(16, 32) for _ in range(4)])

    def forward(self, x):
        h = F.normalize(self.proj(x), dim=-1, eps=0)
        cn = F.normalize(self.centroids, dim=-1, eps=0)
        return moe_ref(x, route(h @ cn.T / 0.1, "topk", 2), self.experts)


@case("cosine_router")
def _(c):
    return module_case(c, CosineMoe(), FFN_NDL + """
model CosineRouter {
  input x: f32[T, 16];
  output y;
  weights "cosine_router.w.safetensors";
  proj    = Linear(16, 8, bias = false);
  param centroids: f32[4, 8];
  experts = [FFN(16, 32) for i in 0..4];
  forward {
    let h  = proj(x);
    let hn = h / sqrt(sum(h * h, dims = [1], keepdim = true));
    let cn = centroids / sqrt(sum(centroids * centroids, dims = [1], keepdim = true));
    y = moe(x, matmul(hn, transpose(cn, 0, 1)) / 0.1, experts, topk(2));
  }
}
""",
                       "cosine router written in NDL: normalized projection against centroids")


class NormRouterMoe(nn.Module):
    """UniPool's NormRouter: L2-normalized logits, the selected values are the weights."""

    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(16, 4, bias=False)
        self.experts = nn.ModuleList([FFN(16, 32) for _ in range(4)])

    def forward(self, x):
        s = F.normalize(self.gate(x), dim=-1, eps=0)
        return moe_ref(x, route(s, "topk", 2, renorm=False, softmax=False), self.experts)


@case("norm_router")
def _(c):
    return module_case(c, NormRouterMoe(), FFN_NDL + """
model NormRouter {
  input x: f32[T, 16];
  output y;
  weights "norm_router.w.safetensors";
  gate    = Linear(16, 4, bias = false);
  experts = [FFN(16, 32) for i in 0..4];
  forward {
    let s = gate(x);
    y = moe(x, s / sqrt(sum(s * s, dims = [1], keepdim = true)), experts, topk(2, softmax = false));
  }
}
""",
                       "NormRouter: softmax = false, the selected normalized scores are the weights")


class SharedMoe(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(16, 4, bias=False)
        self.experts = nn.ModuleList([FFN(16, 32) for _ in range(4)])
        self.shared = FFN(16, 64)

    def forward(self, x):
        return moe_ref(x, route(self.gate(x), "topk", 2), self.experts, shared=[self.shared])


@case("shared_expert")
def _(c):
    return module_case(c, SharedMoe(), FFN_NDL + """
model SharedExpert {
  input x: f32[T, 16];
  output y;
  weights "shared_expert.w.safetensors";
  gate    = Linear(16, 4, bias = false);
  experts = [FFN(16, 32) for i in 0..4];
  shared  = FFN(16, 64);
  forward { y = moe(x, gate(x), experts, topk(2), shared = [shared]); }
}
""",
                       "DeepSeek-style shared expert: applied to every token with weight 1")


class GRUMoeBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.experts = nn.ModuleList([FFN(16, 32) for _ in range(4)])

    def forward(self, x, scores):
        return x + moe_ref(x, route(scores, "topk", 2), self.experts)


class RMoE(nn.Module):
    """RMoE (Qiu et al. 2024, "Layerwise Recurrent Router for Mixture-of-Experts"): one
    GRU cell shared by all layers carries the router state from layer to layer,
    h_l = GRUCell(proj_l(x_l), h_{l-1}) with h_0 = 0, and layer l routes on gate_l(h_l)."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRUCell(8, 8)
        self.proj = nn.ModuleList([nn.Linear(16, 8, bias=False) for _ in range(3)])
        self.gate = nn.ModuleList([nn.Linear(8, 4, bias=False) for _ in range(3)])
        self.blocks = nn.ModuleList([GRUMoeBlock() for _ in range(3)])

    def forward(self, x):
        h = torch.zeros(x.shape[0], 8)
        for i in range(3):
            h = self.gru(self.proj[i](x), h)
            x = self.blocks[i](x, self.gate[i](h))
        return x


@case("rmoe_gru_router")
def _(c):
    m = randomize_(RMoE(), c)
    x = c.randn(10, 16)
    with torch.no_grad():
        for g in m.gate:  # sharper routers: clear top-2 margins
            g.weight.mul_(4.0)
        y = m(T(x))
    ndl = FFN_NDL + """
# torch.nn.GRUCell (gates r, z, n in weight_ih/weight_hh rows, PyTorch's layout), from linear,
# slices, sigmoid and tanh
module GRUCell(n_in: int, n_h: int) {
  param weight_ih: f32[3 * n_h, n_in];
  param weight_hh: f32[3 * n_h, n_h];
  param bias_ih: f32[3 * n_h];
  param bias_hh: f32[3 * n_h];
  forward(x, h) {
    let gi = linear(x, weight_ih, bias_ih);
    let gh = linear(h, weight_hh, bias_hh);
    let r  = sigmoid(gi[:, 0:n_h] + gh[:, 0:n_h]);
    let u  = sigmoid(gi[:, n_h:2 * n_h] + gh[:, n_h:2 * n_h]);
    let n  = tanh(gi[:, 2 * n_h:3 * n_h] + r * gh[:, 2 * n_h:3 * n_h]);
    return (1.0 - u) * n + u * h;
  }
}

module GRUMoeBlock(d: int, n: int) {
  experts = [FFN(d, 32) for i in 0..n];
  forward(x, scores) { return x + moe(x, scores, experts, topk(2)); }
}

model RmoeGruRouter {
  input x: f32[T, 16];
  output y;
  weights "rmoe_gru_router.w.safetensors";
  gru    = GRUCell(8, 8);                          # shared by all layers
  proj   = [Linear(16, 8, bias = false) for i in 0..3];
  gate   = [Linear(8, 4, bias = false) for i in 0..3];
  blocks = [GRUMoeBlock(16, 4) for i in 0..3];
  forward {
    let h = 0.0 * proj[0](x);                      # h_0 = 0, [T, 8] (NDL has no zeros())
    let z = x;
    for i in 0..3 {
      h = gru(proj[i](z), h);                      # the router state threaded through the layers
      z = blocks[i](z, gate[i](h));
    }
    y = z;
  }
}
"""
    return dict(doc="RMoE: a GRU router (torch.nn.GRUCell) whose state is threaded through three MoE layers",
                ndl=ndl, inputs={"x": x}, weights=state_dict_np(m), outputs={"y": y})


def load_lines(gates_per_layer):
    """What the executable prints after --repeat's timing (runtime/driver.c): per moe layer,
    the tokens each expert received and their mean per token."""
    out = []
    for layer, g in enumerate(gates_per_layer):
        counts = (g != 0).sum(dim=0).tolist()
        out.append("moe layer=%d tokens=%d mean_active=%.4f load=%s\n"
                   % (layer, g.shape[0], sum(counts) / g.shape[0], ",".join(str(n) for n in counts)))
    return "".join(out)


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    golden.HEADER = ("# {stem}: {doc}\n"
                     "# Generated by tests/reference/moe_cases.py (case '{stem}'); edit it there.\n")
    for folder, stem, fn in CASES:
        del LOADS[:]
        golden.write_case(os.path.join(ROOT, "tests"), folder, stem, None, fn)
        if stem in LOAD_CASES:  # the executable's load lines (tests/moe/check_load.sh)
            with open(os.path.join(ROOT, "tests", folder, stem + ".load"), "w") as f:
                f.write(load_lines(LOADS))
    # a run-time error: token 2 is routed to expert 3 of 3 (tests/moe/check_range.sh)
    x = golden.Ctx("bad_idx").randn(5, 8)
    golden.st.save(os.path.join(ROOT, "tests", "moe", "range", "bad_idx.in.safetensors"),
                   {"x": x, "idx": np.array([0, 1, 3, 0, 2], dtype=np.int32)})
    print("moe_cases: %d cases written to tests/moe and tests/ops" % len(CASES))


if __name__ == "__main__":
    main()
