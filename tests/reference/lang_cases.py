# SPDX-License-Identifier: MIT
"""lang_cases.py - language features that change numerics (spec sections 3, 4, 6, 8.5):
user modules with default arguments, module lists and loops, compile-time `if` and
expressions, symbolic batch sizes, `from` rebinding, pruning's P_orig/P_mask, F16/BF16
storage, parameter sharing and `tie`.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.utils.prune as prune

import st
from golden import Ctx, T, case, state_dict_np
from module_cases import randomize_


def no_grad(fn, *args):
    with torch.no_grad():
        return fn(*args)


# ---- user modules with compile-time arguments and defaults -----------------------------
class ConvAct(nn.Module):
    def __init__(self, cin, cout, k=(3, 1), pad=(1, 0), act=True, alpha=0.5):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=pad)
        self.act, self.alpha = act, alpha

    def forward(self, x):
        h = self.conv(x)
        if self.act:
            h = F.relu(h)
        return h * self.alpha


@case("ops", "lang_module_args")
def _(c):
    m = nn.ModuleDict({"c1": ConvAct(3, 4), "c2": ConvAct(4, 2, (1, 3), (0, 1), act=False, alpha=2.0),
                       "c3": ConvAct(2, 3, alpha=0.25)}).eval()
    x = c.randn(2, 3, 5, 6)
    ndl = """
module ConvAct(cin: int, cout: int, k: int[] = [3, 1], pad: int[] = [1, 0], act: bool = true,
               alpha: real = 0.5) {
  conv = Conv2d(cin, cout, k, pad = pad);

  forward(x) {
    let h = conv(x);
    if act {
      h = relu(h);
    }
    return h * alpha;
  }
}

model LangModuleArgs {
  input x: f32[2, 3, 5, 6];
  output y;
  weights "lang_module_args.w.safetensors";

  c1 = ConvAct(3, 4);
  c2 = ConvAct(4, 2, [1, 3], [0, 1], act = false, alpha = 2.0);
  c3 = ConvAct(2, 3, alpha = 0.25);

  forward {
    y = c3(c2(c1(x)));
  }
}
"""
    y = no_grad(lambda t: m["c3"](m["c2"](m["c1"](t))), T(x))
    return dict(doc="user module with int, int[], bool and real arguments, defaults, keywords",
                ndl=ndl, inputs={"x": x}, weights=state_dict_np(m), outputs={"y": y})


# ---- compile-time if ---------------------------------------------------------------------
class Head(nn.Module):
    def __init__(self, d, out, act=True, mode=0):
        super().__init__()
        self.fc = nn.Linear(d, out)
        self.act, self.mode = act, mode

    def forward(self, x):
        h = self.fc(x)
        if self.act:
            h = F.relu(h)
        if self.mode == 1:
            h = h * 2
        else:
            h = h - 1
        return h


@case("ops", "lang_if")
def _(c):
    m = nn.ModuleDict({"h1": Head(5, 4), "h2": Head(5, 4, act=False, mode=1)}).eval()
    x = c.randn(3, 5)
    ndl = """
module Head(d: int, out: int, act: bool = true, mode: int = 0) {
  fc = Linear(d, out);

  forward(x) {
    let h = fc(x);
    if act {
      h = relu(h);
    }
    if mode == 1 {
      h = h * 2;
    } else {
      h = h - 1;
    }
    if mode == 2 && d != out {
      h = h + x;          # a shape error, but never elaborated: mode is never 2 here
    }
    return h;
  }
}

model LangIf {
  input x: f32[3, 5];
  output y1;
  output y2;
  weights "lang_if.w.safetensors";

  h1 = Head(5, 4);
  h2 = Head(5, 4, act = false, mode = 1);

  forward {
    y1 = h1(x);
    y2 = h2(x);
  }
}
"""
    return dict(doc="compile-time if/else on module arguments; the branch not taken is not "
                    "elaborated",
                ndl=ndl, inputs={"x": x}, weights=state_dict_np(m),
                outputs={"y1": no_grad(m["h1"], T(x)), "y2": no_grad(m["h2"], T(x))})


# ---- module lists and loops ----------------------------------------------------------------
class ResMLP(nn.Module):
    def __init__(self, c, expand=2):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(c, c * expand), nn.Linear(c * expand, c)

    def forward(self, x):
        return x + self.fc2(F.relu(self.fc1(x)))


@case("ops", "lang_for_list")
def _(c):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([ResMLP(6) for _ in range(3)])
            self.head = nn.Linear(6, 2)

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return self.head(x)

    m = Net().eval()
    x = c.randn(4, 6)
    ndl = """
module ResMLP(c: int, expand: int = 2) {
  fc1 = Linear(c, c * expand);
  fc2 = Linear(c * expand, c);

  forward(x) {
    return x + fc2(relu(fc1(x)));
  }
}

model LangForList {
  input x: f32[4, 6];
  output y;
  weights "lang_for_list.w.safetensors";

  blocks = [ResMLP(6) for i in 0..3];
  head = Linear(6, 2);

  forward {
    let h = x;
    for b in blocks {
      h = b(h);
    }
    y = head(h);
  }
}
"""
    return dict(doc="[ResMLP(6) for i in 0..3] (keys blocks.N.fc1.weight) and for b in blocks",
                ndl=ndl, inputs={"x": x}, weights=state_dict_np(m), outputs={"y": no_grad(m, T(x))})


@case("ops", "lang_list_index")
def _(c):
    layers = nn.ModuleList([nn.Linear(3 + i, 4 + i) for i in range(3)])
    m = nn.ModuleDict({"layers": layers}).eval()
    x = c.randn(2, 3)

    def ref(t):
        h = t
        for i in range(2):
            h = F.relu(layers[i](h))
        return layers[2](h)

    ndl = """
model LangListIndex {
  input x: f32[2, 3];
  output y;
  weights "lang_list_index.w.safetensors";

  layers = [Linear(3 + i, 4 + i) for i in 0..3];    # 3->4, 4->5, 5->6

  forward {
    let h = x;
    for i in 0..3 - 1 {                             # 0..(3-1): i = 0, 1
      h = relu(layers[i](h));
    }
    for i in 2..2 {                                 # empty range: runs nothing
      h = h * 100;
    }
    y = layers[2](h);
  }
}
"""
    return dict(doc="loop variable in list element arguments, blocks[i] indexing, '..' binding "
                    "looser than '-', empty range",
                ndl=ndl, inputs={"x": x}, weights=state_dict_np(m), outputs={"y": no_grad(ref, T(x))})


# ---- compile-time expressions ------------------------------------------------------------
@case("ops", "lang_ct_expr")
def _(c):
    # make_divisible(10, 8) = 16; make_divisible(12 * 0.75, 4) = 12; round(2.5) + min(3, 7) = 5;
    # (max(2, 3) * 2 == 6 && !(1 > 2)) ? ceil(7 / 2.0) : 9 = 4;
    # floor(3.7) + round(3.5) + 17 % 5 + 9 / 2 = 3 + 4 + 2 + 4 = 13
    sizes = [5, 16, 12, 5, 4, 13]
    layers = nn.ModuleList([nn.Linear(sizes[i], sizes[i + 1]) for i in range(5)])
    m = nn.ModuleDict({"fc%d" % (i + 1): layers[i] for i in range(5)}).eval()
    x = c.away(2, 5)

    def ref(t):
        h = t
        for i in range(5):
            h = layers[i](h)
            if i < 4:
                h = torch.tanh(h)
        # Scaler(-7, 0.5): k / 2 = floor(-3.5) = -4, k % 3 = 2 (floor modulo), r / 4 = 0.125
        return h * (-4) + 2 - h * 0.125 + h * 3.5

    ndl = """
module Scaler(k: int, r: real) {
  forward(x) {
    return x * (k / 2) + k % 3 - x * (r / 4) + x * (7.0 / 2);
  }
}

model LangCtExpr {
  input x: f32[2, 5];
  output y;
  weights "lang_ct_expr.w.safetensors";

  fc1 = Linear(5, make_divisible(10, 8));                               # 16
  fc2 = Linear(make_divisible(10, 8), make_divisible(12 * 0.75, 4));    # 16 -> 12
  fc3 = Linear(12, round(2.5) + min(3, 7));                             # 12 -> 5
  fc4 = Linear(5, (max(2, 3) * 2 == 6 && !(1 > 2)) ? ceil(7 / 2.0) : 9); # 5 -> 4
  fc5 = Linear(4, floor(3.7) + round(3.5) + 17 % 5 + 9 / 2);            # 4 -> 13
  s = Scaler(-7, 0.5);

  forward {
    let h = tanh(fc1(x));
    h = tanh(fc2(h));
    h = tanh(fc3(h));
    h = tanh(fc4(h));
    y = s(fc5(h));
  }
}
"""
    return dict(doc="compile-time arithmetic: make_divisible, round half-even, min/max, ceil, "
                    "floor, ternary, && ! ==, floor division and modulo on negative ints",
                ndl=ndl, inputs={"x": x}, weights=state_dict_np(m), outputs={"y": no_grad(ref, T(x))})


# ---- symbolic batch ------------------------------------------------------------------------
SYM_NDL = """
model LangSymBatch {
  input x: f32[N, 3, 4];
  output y;
  output s: f32[3, 6];
  weights "%s.w.safetensors";

  fc = Linear(4, 6);

  forward {
    let h = fc(x);
    y = reshape(h, [N * 3, -1]);
    s = mean(h, dims = [0]);
  }
}
"""


def _sym(stem, n):
    def run(c):
        torch.manual_seed(1234)            # same weights for both batch sizes
        m = nn.ModuleDict({"fc": nn.Linear(4, 6)}).eval()
        x = c.randn(n, 3, 4)
        h = no_grad(m["fc"], T(x))
        return dict(doc="symbolic batch N (here N = %d), N * 3 in a reshape, reduction over N" % n,
                    ndl=SYM_NDL % stem, inputs={"x": x}, weights=state_dict_np(m),
                    outputs={"y": h.reshape(n * 3, -1), "s": h.mean(0)})
    case("ops", stem)(run)


_sym("lang_sym_batch_n2", 2)
_sym("lang_sym_batch_n5", 5)


@case("ops", "lang_multi_io")
def _(c):
    a, b = c.randn(3, 4), c.randn(3, 4)
    ndl = """
model LangMultiIo {
  input a: f32[N, 4];
  input b: f32[N, 4];        # the same N: one size
  output s: f32[N, 4];
  output d;
  output p;

  forward {
    let t = a * b;
    s = a + b;
    d = a - b;
    p = sum(t, dims = [1], keepdim = true);
  }
}
"""
    return dict(doc="two inputs sharing a symbol, three outputs (one with a declared type)",
                ndl=ndl, inputs={"a": a, "b": b},
                outputs={"s": T(a) + T(b), "d": T(a) - T(b),
                         "p": torch.sum(T(a) * T(b), 1, keepdim=True)})


# ---- weight-file conventions ---------------------------------------------------------------
@case("ops", "lang_from_prefix")
def _(c):
    enc, head = nn.Linear(4, 6), nn.Sequential(nn.Linear(6, 3))
    scale = c.uniform(0.5, 1.5, 6)
    x = c.randn(2, 4)
    w = {"backbone.encoder.layers.0.fc." + k: v for k, v in state_dict_np(enc).items()}
    w.update({"heads.cls." + k: v for k, v in state_dict_np(head).items()})
    w["backbone.scale_vec"] = scale
    ndl = """
model LangFromPrefix {
  input x: f32[2, 4];
  output y;
  weights "lang_from_prefix.w.safetensors";

  enc = Linear(4, 6) from "backbone.encoder.layers.0.fc";
  param scale: f32[6] from "backbone.scale_vec";
  head = Sequential(Linear(6, 3)) from "heads.cls";

  forward {
    y = head(relu(enc(x)) * scale);
  }
}
"""
    y = no_grad(lambda t: head(F.relu(enc(t)) * T(scale)), T(x))
    return dict(doc="`from` prefixes on module instances and on a param (the prefix replaces the path)",
                ndl=ndl, inputs={"x": x}, weights=w, outputs={"y": y})


@case("ops", "lang_from_nested")
def _(c):
    convs = [nn.Conv2d(3, 3, 3, padding=1) for _ in range(2)]
    gains = [c.uniform(0.5, 1.5, 3) for _ in range(2)]
    x = c.randn(1, 3, 5, 4)
    w = {}
    for i in range(2):
        for k, v in state_dict_np(convs[i]).items():
            w["blocks.%d.conv.conv.%s" % (i, k)] = v
        w["blocks.%d.gain.value" % i] = gains[i]

    def ref(t):
        for i in range(2):
            t = F.relu(convs[i](t) * T(gains[i])[None, :, None, None])
        return t

    ndl = """
module Wrapped(c: int) {
  conv = Conv2d(c, c, 3, pad = 1) from "conv.conv";   # OFA-style deeper nesting
  param g: f32[c] from "gain.value";

  forward(x) {
    return relu(conv(x) * g[None, :, None, None]);
  }
}

model LangFromNested {
  input x: f32[1, 3, 5, 4];
  output y;
  weights "lang_from_nested.w.safetensors";

  blocks = [Wrapped(3) for i in 0..2];

  forward {
    let h = x;
    for b in blocks {
      h = b(h);
    }
    y = h;
  }
}
"""
    return dict(doc="`from` inside a module is relative to the instance path "
                    "(blocks.0.conv.conv.weight); see tests/reference/README.md",
                ndl=ndl, inputs={"x": x}, weights=w, outputs={"y": no_grad(ref, T(x))})


@case("ops", "lang_prune_orig_mask")
def _(c):
    m = nn.ModuleDict({"fc1": nn.Linear(6, 8), "fc2": nn.Linear(8, 3),
                       "conv": nn.Conv2d(2, 4, 3)}).eval()
    prune.l1_unstructured(m["fc1"], "weight", amount=0.5)
    prune.random_unstructured(m["fc2"], "bias", amount=0.34)
    prune.ln_structured(m["conv"], "weight", amount=0.5, n=1, dim=0)
    w = state_dict_np(m)
    assert "fc1.weight_orig" in w and "fc1.weight_mask" in w and "fc1.weight" not in w
    assert "fc2.bias_orig" in w and "conv.weight_mask" in w
    x, img = c.randn(3, 6), c.randn(1, 2, 5, 4)
    ndl = """
model LangPruneOrigMask {
  input x: f32[3, 6];
  input img: f32[1, 2, 5, 4];
  output y1;
  output y2;
  weights "lang_prune_orig_mask.w.safetensors";

  fc1 = Linear(6, 8);      # stored as fc1.weight_orig * fc1.weight_mask
  fc2 = Linear(8, 3);      # stored as fc2.bias_orig * fc2.bias_mask
  conv = Conv2d(2, 4, 3);  # structured mask: two zero output channels

  forward {
    y1 = fc2(relu(fc1(x)));
    y2 = conv(img);
  }
}
"""
    return dict(doc="PyTorch pruning checkpoints: P_orig and P_mask instead of P "
                    "(torch.nn.utils.prune l1/random/ln_structured)",
                ndl=ndl, inputs={"x": x, "img": img}, weights=w,
                outputs={"y1": no_grad(lambda t: m["fc2"](F.relu(m["fc1"](t))), T(x)),
                         "y2": no_grad(m["conv"], T(img))})


@case("ops", "lang_f16_bf16_weights")
def _(c):
    wf = c.randn(4, 5).astype(np.float16)
    bb = st.BF16(c.randn(4))
    sb = st.BF16(c.uniform(0.5, 1.5, 4))
    cw = c.randn(2, 1, 3, 3).astype(np.float16)
    x, img = c.randn(3, 5), c.randn(1, 2, 4, 5)
    ndl = """
model LangF16Bf16Weights {
  input x: f32[3, 5];
  input img: f32[1, 2, 4, 5];
  output y1;
  output y2;
  weights "lang_f16_bf16_weights.w.safetensors";

  fc = Linear(5, 4);                        # weight stored F16, bias stored BF16
  param s: f32[4];                          # stored BF16
  conv = Conv2d(2, 2, 3, groups = 2, bias = false);   # weight stored F16

  forward {
    y1 = fc(x) * s;
    y2 = conv(img);
  }
}
"""
    y1 = F.linear(T(x), T(wf.astype(np.float32)), T(bb)) * T(sb)
    y2 = F.conv2d(T(img), T(cw.astype(np.float32)), groups=2)
    return dict(doc="F16 and BF16 stored weights widened to f32 (reference uses the widened values)",
                ndl=ndl, inputs={"x": x, "img": img},
                weights={"fc.weight": wf, "fc.bias": bb, "s": sb, "conv.weight": cw},
                outputs={"y1": y1, "y2": y2})


@case("ops", "lang_int_weights")
def _(c):
    wi = c.ints(-100, 100, 4, 5, dtype=np.int8)
    bb = np.array([True, False, True, True])
    big = np.array([16777216, -3, 2 ** 40, 7], np.int64)   # exact in f32 (2^24, 2^40)
    idx = np.array([True, False, True])
    x = c.randn(3, 5)
    ndl = """
model LangIntWeights {
  input x: f32[3, 5];
  output y1;
  output y2;
  output y3;
  weights "lang_int_weights.w.safetensors";

  fc = Linear(5, 4);                        # weight stored I8, bias stored BOOL
  param big: f32[4];                        # stored I64, every value exact in f32
  param idx: i64[3];                        # stored BOOL

  forward {
    y1 = fc(x);
    y2 = big * 0.5;
    y3 = take(x, idx);
  }
}
"""
    return dict(doc="float parameters stored as integer and BOOL dtypes, an integer parameter as BOOL "
                    "(spec 6: converted where nothing is lost)",
                ndl=ndl, inputs={"x": x},
                weights={"fc.weight": wi, "fc.bias": bb, "big": big, "idx": idx},
                outputs={"y1": F.linear(T(x), T(wi.astype(np.float32)), T(bb.astype(np.float32))),
                         "y2": T(big.astype(np.float32)) * 0.5,
                         "y3": torch.take(T(x), T(idx.astype(np.int64)))})


# ---- sharing ----------------------------------------------------------------------------------
@case("ops", "lang_shared_instance")
def _(c):
    m = nn.ModuleDict({"fc": nn.Linear(5, 5), "blk": ResMLP(5, 3)}).eval()
    x = c.randn(2, 5)
    ndl = """
module ResMLP(c: int, expand: int = 2) {
  fc1 = Linear(c, c * expand);
  fc2 = Linear(c * expand, c);

  forward(x) {
    return x + fc2(relu(fc1(x)));
  }
}

model LangSharedInstance {
  input x: f32[2, 5];
  output y;
  weights "lang_shared_instance.w.safetensors";

  fc = Linear(5, 5);
  blk = ResMLP(5, expand = 3);

  forward {
    y = blk(blk(fc(tanh(fc(x)))));    # each instance called twice: shared parameters
  }
}
"""
    y = no_grad(lambda t: m["blk"](m["blk"](m["fc"](torch.tanh(m["fc"](t))))), T(x))
    return dict(doc="calling one instance twice reuses its parameters", ndl=ndl,
                inputs={"x": x}, weights=state_dict_np(m), outputs={"y": y})


@case("ops", "lang_tie")
def _(c):
    emb, head = nn.Embedding(10, 6), nn.Linear(6, 10, bias=False)
    head.weight = emb.weight
    ids = c.ints(0, 10, 2, 3)
    ndl = """
model LangTie {
  input ids: i64[2, 3];
  output y;
  weights "lang_tie.w.safetensors";

  emb = Embedding(10, 6);
  head = Linear(6, 10, bias = false);
  tie head.weight = emb.weight;     # the file holds only emb.weight

  forward {
    y = head(emb(ids));
  }
}
"""
    y = no_grad(lambda t: head(emb(t)), T(ids))
    return dict(doc="tie with only one of the two keys in the file (save_model keeps one name)",
                ndl=ndl, inputs={"ids": ids}, weights={"emb.weight": state_dict_np(emb)["weight"]},
                outputs={"y": y})


# ---- parameter expressions (spec 5: weight = EXPR, bias = EXPR; spec 8.5) -------------------
@case("ops", "lang_param_expr")
def _(c):
    a, s = c.randn(2, 2, 2), c.randn(2, 3, 4, scale=0.5)
    fb = c.randn(6)
    cw, cm, cb = c.randn(4, 2, 3, 3, scale=0.5), (c.rng.random((4, 2, 3, 3)) < 0.6), c.randn(4)
    cm = cm.astype(np.float32)
    emb = c.randn(2, 4)
    hyper = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 36)).eval()
    lb = [c.randn(6) for _ in range(2)]
    x, img = c.randn(3, 8), c.randn(1, 2, 5, 4)

    def ref(tx, timg):
        w = torch.kron(T(a)[0], T(s)[0]) + torch.kron(T(a)[1], T(s)[1])
        h = F.linear(tx, w, T(fb) * 2 - 1)
        for i in range(2):
            p = hyper(T(emb)[i])
            wi = p[0:18].reshape(6, 3) @ p[18:36].reshape(6, 3).T
            h = torch.tanh(F.linear(h, wi, T(lb[i])))
        y2 = F.conv2d(timg, T(cw) * T(cm), T(cb) + 0.1, padding=1)
        return h, y2

    y1, y2 = no_grad(ref, T(x), T(img))
    w = {"A": a, "S": s, "fb": fb, "cw": cw, "cm": cm, "cb": cb, "emb": emb}
    w.update({"hyper." + k: v for k, v in state_dict_np(hyper).items()})
    w.update({"layers.%d.bias" % i: lb[i] for i in range(2)})
    ndl = """
model LangParamExpr {
  input x: f32[3, 8];
  input img: f32[1, 2, 5, 4];
  output y1;
  output y2;
  weights "lang_param_expr.w.safetensors";

  param A: f32[2, 2, 2];
  param S: f32[2, 3, 4];
  param fb: f32[6];
  phm = Linear(8, 6, weight = kron(A[0], S[0]) + kron(A[1], S[1]), bias = fb * 2 - 1);   # PHNN

  hyper = Sequential(Linear(4, 16), ReLU(), Linear(16, 2 * 6 * 3));
  param emb: f32[2, 4];
  layers = [Linear(6, 6, weight = lowrank(
              reshape(hyper(emb[i])[0:18], [6, 3]),
              reshape(hyper(emb[i])[18:36], [6, 3]))) for i in 0..2];

  param cw: f32[4, 2, 3, 3];
  param cm: f32[4, 2, 3, 3];
  param cb: f32[4];
  conv = Conv2d(2, 4, 3, pad = 1, weight = cw * cm, bias = cb + 0.1);

  forward {
    let h = phm(x);
    for l in layers {
      h = tanh(l(h));
    }
    y1 = h;
    y2 = conv(img);
  }
}
"""
    return dict(doc="parameter expressions: PHNN kron-sum weight, bias expressions, hypernetwork "
                    "lowrank weights predicted from embeddings, Conv2d weight = w * mask",
                ndl=ndl, inputs={"x": x, "img": img}, weights=w, outputs={"y1": y1, "y2": y2})
