# SPDX-License-Identifier: MIT
"""module_cases.py - one golden case per built-in module of spec section 5.

The PyTorch module is built with a fixed seed, its non-trivial state (biases that
PyTorch initializes to zero, norm affine parameters, BatchNorm running statistics) is
randomized, and its state_dict is the weight file: the NDL instance names make the keys.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from golden import T, case, ref_rms_norm, state_dict_np
from ops_cases import simple, ty


def randomize_(module, c):
    """Gives every parameter and BatchNorm buffer a seeded non-trivial value."""
    with torch.no_grad():
        for name, m in module.named_modules():
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                if m.weight is not None:
                    m.weight.copy_(T(c.uniform(0.5, 1.5, *m.weight.shape)))
                    m.bias.copy_(T(c.randn(*m.bias.shape, scale=0.3)))
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(T(c.randn(*m.running_mean.shape, scale=0.5)))
                m.running_var.copy_(T(c.uniform(0.3, 2.0, *m.running_var.shape)))
                m.num_batches_tracked.fill_(37)
            if isinstance(m, nn.MultiheadAttention):
                if m.in_proj_bias is not None:
                    m.in_proj_bias.copy_(T(c.randn(*m.in_proj_bias.shape, scale=0.2)))
                if m.out_proj.bias is not None:
                    m.out_proj.bias.copy_(T(c.randn(*m.out_proj.bias.shape, scale=0.2)))
    module.eval()
    return module


def causal_mask(t):
    """The float mask nn.MultiheadAttention takes: -inf above the diagonal."""
    return torch.triu(torch.full((t, t), float("-inf")), diagonal=1)


@case("ops", "module_linear")
def _(c):
    m = nn.ModuleDict({"fc": nn.Linear(7, 5), "proj": nn.Linear(5, 4, bias=False)})
    randomize_(m, c)
    x = c.randn(2, 3, 7)
    with torch.no_grad():
        h = m["fc"](T(x))
        y2 = m["proj"](F.relu(h))
    return dict(doc="Linear(7, 5) on a 3-D input and Linear(5, 4, bias = false)",
                ndl=simple("module_linear", "let h = fc(x);\ny1 = h;\ny2 = proj(relu(h));",
                           [("x", ty(x))], ["y1", "y2"], True,
                           decls="fc = Linear(7, 5);\nproj = Linear(5, 4, bias = false);"),
                inputs={"x": x}, weights=state_dict_np(m), outputs={"y1": h, "y2": y2})


@case("ops", "module_conv2d")
def _(c):
    m = nn.ModuleDict({
        "conv1": nn.Conv2d(3, 6, (3, 1), stride=(2, 1), padding=(1, 0), bias=False),
        "conv2": nn.Conv2d(6, 6, 3, padding=2, dilation=2, groups=3),
        "dw": nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=6)})
    randomize_(m, c)
    x = c.randn(2, 3, 9, 6)
    with torch.no_grad():
        h = m["conv1"](T(x))
        y2 = m["dw"](m["conv2"](h))
    decls = """
    conv1 = Conv2d(3, 6, [3, 1], stride = [2, 1], pad = [1, 0], bias = false);
    conv2 = Conv2d(6, 6, 3, pad = 2, dilation = 2, groups = 3);
    dw = Conv2d(6, 6, 3, stride = 2, pad = 1, groups = 6);
    """
    return dict(doc="Conv2d: [3,1] kernel with pair stride/pad and no bias; dilated grouped; "
                    "depthwise strided",
                ndl=simple("module_conv2d", "let h = conv1(x);\ny1 = h;\ny2 = dw(conv2(h));",
                           [("x", ty(x))], ["y1", "y2"], True, decls=decls),
                inputs={"x": x}, weights=state_dict_np(m), outputs={"y1": h, "y2": y2})


@case("ops", "module_batchnorm2d")
def _(c):
    m = nn.ModuleDict({"bn": nn.BatchNorm2d(5), "bn2": nn.BatchNorm2d(5, eps=1e-3)})
    randomize_(m, c)
    x = c.randn(2, 5, 4, 3, scale=1.5)
    with torch.no_grad():
        y1, y2 = m["bn"](T(x)), m["bn2"](T(x))
    w = state_dict_np(m)
    assert w["bn.num_batches_tracked"].shape == () and w["bn.num_batches_tracked"].dtype == np.int64
    return dict(doc="BatchNorm2d (eval, running stats; num_batches_tracked I64 in the file), "
                    "default eps and eps = 1e-3",
                ndl=simple("module_batchnorm2d", "y1 = bn(x);\ny2 = bn2(x);", [("x", ty(x))],
                           ["y1", "y2"], True,
                           decls="bn = BatchNorm2d(5);\nbn2 = BatchNorm2d(5, eps = 1e-3);"),
                inputs={"x": x}, weights=w, outputs={"y1": y1, "y2": y2})


@case("ops", "module_layernorm")
def _(c):
    m = nn.ModuleDict({"ln": nn.LayerNorm(6), "ln2": nn.LayerNorm(6, eps=1e-2)})
    randomize_(m, c)
    x = c.randn(2, 3, 6, scale=2.0, shift=-0.5)
    with torch.no_grad():
        y1, y2 = m["ln"](T(x)), m["ln2"](T(x))
    return dict(doc="LayerNorm(6) and LayerNorm(6, eps = 1e-2) over the last dim",
                ndl=simple("module_layernorm", "y1 = ln(x);\ny2 = ln2(x);", [("x", ty(x))],
                           ["y1", "y2"], True,
                           decls="ln = LayerNorm(6);\nln2 = LayerNorm(6, eps = 1e-2);"),
                inputs={"x": x}, weights=state_dict_np(m), outputs={"y1": y1, "y2": y2})


@case("ops", "module_rmsnorm")
def _(c):
    x = c.randn(3, 2, 6, scale=0.05)
    w1, w2 = c.uniform(0.5, 1.5, 6), c.uniform(0.5, 1.5, 6)
    return dict(doc="RMSNorm(6) (eps = float32 epsilon) and RMSNorm(6, eps = 1e-3); torch 1.13 "
                    "has no nn.RMSNorm, so the reference is the formula of spec section 5",
                ndl=simple("module_rmsnorm", "y1 = rn(x);\ny2 = rn2(x);", [("x", ty(x))],
                           ["y1", "y2"], True,
                           decls="rn = RMSNorm(6);\nrn2 = RMSNorm(6, eps = 1e-3);"),
                inputs={"x": x}, weights={"rn.weight": w1, "rn2.weight": w2},
                outputs={"y1": ref_rms_norm(T(x), T(w1)),
                         "y2": ref_rms_norm(T(x), T(w2), 1e-3)})


@case("ops", "module_embedding")
def _(c):
    m = nn.ModuleDict({"emb": nn.Embedding(10, 4)})
    ids = c.ints(0, 10, 3, 4)
    with torch.no_grad():
        y = m["emb"](T(ids))
    return dict(doc="Embedding(10, 4) with i64 ids [3,4]",
                ndl=simple("module_embedding", "y = emb(ids);", [("ids", ty(ids, "i64"))], ["y"],
                           True, decls="emb = Embedding(10, 4);"),
                inputs={"ids": ids}, weights=state_dict_np(m), outputs={"y": y})


@case("ops", "module_mha")
def _(c):
    m = nn.ModuleDict({"mha": nn.MultiheadAttention(12, 3, batch_first=True)})
    randomize_(m, c)
    x, q, kv = c.randn(2, 5, 12), c.randn(2, 4, 12), c.randn(2, 6, 12)
    with torch.no_grad():
        y1 = m["mha"](T(x), T(x), T(x), need_weights=False)[0]
        y2 = m["mha"](T(q), T(kv), T(kv), need_weights=False)[0]
    return dict(doc="MultiheadAttention(12, 3): self-attention, and cross-attention Tq = 4 != "
                    "Tk = 6 (torch batch_first, need_weights=False)",
                ndl=simple("module_mha", "y1 = mha(x, x, x);\ny2 = mha(q, kv, kv);",
                           [("x", ty(x)), ("q", ty(q)), ("kv", ty(kv))], ["y1", "y2"], True,
                           decls="mha = MultiheadAttention(12, 3);"),
                inputs={"x": x, "q": q, "kv": kv}, weights=state_dict_np(m),
                outputs={"y1": y1, "y2": y2})


@case("ops", "module_mha_causal")
def _(c):
    m = nn.ModuleDict({"mha": nn.MultiheadAttention(8, 2, bias=False, batch_first=True),
                       "mhb": nn.MultiheadAttention(8, 4, batch_first=True)})
    randomize_(m, c)
    x = c.randn(2, 5, 8)
    with torch.no_grad():
        y1 = m["mha"](T(x), T(x), T(x), attn_mask=causal_mask(5), need_weights=False)[0]
        y2 = m["mhb"](T(x), T(x), T(x), attn_mask=causal_mask(5), need_weights=False)[0]
    w = state_dict_np(m)
    assert "mha.in_proj_bias" not in w and "mha.out_proj.bias" not in w
    return dict(doc="MultiheadAttention causal = true (torch: explicit -inf float mask), "
                    "with bias = false and with 4 heads of size 2",
                ndl=simple("module_mha_causal",
                           "y1 = mha(x, x, x, causal = true);\ny2 = mhb(x, x, x, causal = true);",
                           [("x", ty(x))], ["y1", "y2"], True,
                           decls="mha = MultiheadAttention(8, 2, bias = false);\n"
                                 "mhb = MultiheadAttention(8, 4);"),
                inputs={"x": x}, weights=w, outputs={"y1": y1, "y2": y2})


@case("ops", "module_sequential")
def _(c):
    m = nn.ModuleDict({
        "net": nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 3)),
        "features": nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 2, 5))})
    randomize_(m, c)
    x, img = c.randn(2, 6), c.randn(2, 3, 6, 5)
    with torch.no_grad():
        y1, y2 = m["net"](T(x)), m["features"](T(img))
    decls = """
    net = Sequential(Linear(6, 8), ReLU(), Dropout(0.1), Linear(8, 3));
    features = Sequential(Conv2d(3, 4, 3, pad = 1), BatchNorm2d(4), ReLU(), MaxPool2d(2),
                          Flatten(), Linear(4 * 3 * 2, 5));
    """
    return dict(doc="Sequential children named 0, 1, ... (keys net.3.weight, features.1.running_var)",
                ndl=simple("module_sequential", "y1 = net(x);\ny2 = features(img);",
                           [("x", ty(x)), ("img", ty(img))], ["y1", "y2"], True, decls=decls)
                ,
                inputs={"x": x, "img": img}, weights=state_dict_np(m),
                outputs={"y1": y1, "y2": y2})


ACTS = [("ReLU()", nn.ReLU()), ("ReLU6()", nn.ReLU6()), ("GELU()", nn.GELU()),
        ("SiLU()", nn.SiLU()), ("Sigmoid()", nn.Sigmoid()), ("Tanh()", nn.Tanh()),
        ("Hardswish()", nn.Hardswish()), ("Identity()", nn.Identity()),
        ("Dropout(0.25)", nn.Dropout(0.25).eval())]


@case("ops", "module_activations")
def _(c):
    x = c.randn(3, 7, scale=4.0)
    decls = "\n".join("a%d = %s;" % (i + 1, s) for i, (s, _) in enumerate(ACTS))
    body = "\n".join("y%d = a%d(x);" % (i + 1, i + 1) for i in range(len(ACTS)))
    outs = {"y%d" % (i + 1): m(T(x)) for i, (_, m) in enumerate(ACTS)}
    return dict(doc="parameter-free modules ReLU ReLU6 GELU SiLU Sigmoid Tanh Hardswish Identity "
                    "Dropout (identity at inference)",
                ndl=simple("module_activations", body, [("x", ty(x))], list(outs), None,
                           decls=decls),
                inputs={"x": x}, outputs=outs)


@case("ops", "module_pools")
def _(c):
    x = c.randn(2, 3, 7, 6, shift=-2.0)
    t = T(x)
    decls = """
    mp = MaxPool2d(3, stride = 2, pad = 1);
    mp2 = MaxPool2d(2);
    ap = AvgPool2d(2);
    ap2 = AvgPool2d(3, stride = 2, pad = 1);
    fl = Flatten();
    fl2 = Flatten(start = 2);
    """
    body = "y1 = mp(x);\ny2 = mp2(x);\ny3 = ap(x);\ny4 = ap2(x);\ny5 = fl(mp2(x));\ny6 = fl2(x);"
    return dict(doc="MaxPool2d AvgPool2d (default stride = kernel, stride/pad) and Flatten(start)",
                ndl=simple("module_pools", body, [("x", ty(x))],
                           ["y1", "y2", "y3", "y4", "y5", "y6"], None, decls=decls),
                inputs={"x": x},
                outputs={"y1": nn.MaxPool2d(3, 2, 1)(t), "y2": nn.MaxPool2d(2)(t),
                         "y3": nn.AvgPool2d(2)(t), "y4": nn.AvgPool2d(3, 2, 1)(t),
                         "y5": nn.Flatten()(nn.MaxPool2d(2)(t)), "y6": nn.Flatten(2)(t)})
