#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""ofa_cases.py - the OFA MobileNetV3 supernet example and its subnet goldens.

Run from anywhere (Debian's python3-torch; the python3 first on PATH may lack torch):
    /usr/bin/python3 tests/reference/ofa_cases.py
It writes, deterministically (fixed seeds):
    examples/ofa_mbv3.safetensors       the supernet's state_dict, OFA's own keys, as F16
    examples/ofa_mbv3.subnet.json       an OFA-style subnet configuration
    examples/ofa_mbv3.in.safetensors    an input at that configuration's resolution, and
    examples/ofa_mbv3.out.safetensors   PyTorch's output of that subnet for it
    tests/supernet/<stem>.ndl           examples/ofa_mbv3.ndl with a header: which subnet
                                        (`# ARGS:` -D or --subnet options for
                                        tests/harness/run_golden.sh) and the weights path
    tests/supernet/<stem>.{in,out}.safetensors   the golden of that subnet
    tests/supernet/<stem>.subnet.json   the --subnet file of the cases that use one
    tests/supernet/<stem>.expect        what `--report` must say of that subnet:
                                        parameters, macs (see below)
    tests/supernet/econv_*.ndl + .w/.in/.out.safetensors   ElasticConv2d alone
    tests/supernet/derived_*.ndl + .w/.in/.out.safetensors  sizes derived from e by ?: or [i]
    tests/supernet/diag/econv_nomatrix.w.safetensors       a kernel for the diagnostics

The supernet is a scaled-down copy of Once-for-All's OFAMobileNetV3 (Cai et al., ICLR
2020; github.com/mit-han-lab/once-for-all, ofa/imagenet_classification/elastic_nn),
written here from OFA's semantics with OFA's module names, so the state_dict keys are
OFA's: DynamicSeparableConv2d.get_active_filter (centred crops, `7to5_matrix` and
`5to3_matrix` applied as F.linear on the flattened kernels, the next crop taken from the
transformed kernel), DynamicConv2d / DynamicBatchNorm2d / DynamicSE (leading channels),
DynamicMBConvLayer (middle width make_divisible(round(in * e), 8)),
set_active_subnet(ks, e, d) and get_active_subnet(), which builds the static MobileNetV3
with the active weights copied (BatchNorm statistics sliced, eval mode, no
re-calibration). Each golden is the output of that extracted subnet; the script also
checks that the supernet's own dynamic forward gives the same result.

`.expect` counts, both of the extracted subnet in PyTorch: `parameters` after fusing each
Conv2d with its BatchNorm (torch.nn.utils.fusion.fuse_conv_bn_eval, what ndlc's bnfold
pass does, so it is the element count the artefact stores), and `macs` by OFA's own rule
(ofa/utils/flops_counter.py: Conv2d in/groups * kh * kw per output element, Linear
in * out; batch 1).
"""
import copy
import json
import os
import sys
import zlib
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.utils.fusion import fuse_conv_bn_eval  # noqa: E402

import st  # noqa: E402

CHANNEL_DIVISIBLE = 8


def make_divisible(v, divisor=CHANNEL_DIVISIBLE, min_val=None):
    """OFA's (and MobileNet's) rule."""
    if min_val is None:
        min_val = divisor
    new_v = max(min_val, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def sub_filter_start_end(kernel_size, sub_kernel_size):
    center = kernel_size // 2
    dev = sub_kernel_size // 2
    return center - dev, center + dev + 1


class Hswish(nn.Module):
    def forward(self, x):
        return x * F.relu6(x + 3.0) / 6.0


class Hsigmoid(nn.Module):
    def forward(self, x):
        return F.relu6(x + 3.0) / 6.0


def build_activation(name):
    return {"relu": nn.ReLU, "h_swish": Hswish}[name]()


# ---- static layers (the extracted subnet) ----------------------------------------------------

class SEModule(nn.Module):
    REDUCTION = 4

    def __init__(self, channel):
        super().__init__()
        num_mid = make_divisible(channel // self.REDUCTION)
        self.fc = nn.Sequential(OrderedDict([
            ("reduce", nn.Conv2d(channel, num_mid, 1, 1, 0, bias=True)),
            ("relu", nn.ReLU()),
            ("expand", nn.Conv2d(num_mid, channel, 1, 1, 0, bias=True)),
            ("h_sigmoid", Hsigmoid()),
        ]))

    def forward(self, x):
        return x * self.fc(x.mean(3, keepdim=True).mean(2, keepdim=True))


class ConvLayer(nn.Module):
    """OFA's ConvLayer, ops order weight-bn-act: keys conv.weight, bn.*."""

    def __init__(self, cin, cout, k, stride=1, use_bn=True, act="h_swish"):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
        if use_bn:
            self.bn = nn.BatchNorm2d(cout)
        self.act = build_activation(act)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class LinearLayer(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.dropout = nn.Dropout(0.1)
        self.linear = nn.Linear(cin, cout)

    def forward(self, x):
        return self.linear(self.dropout(x))


class MBConvLayer(nn.Module):
    """OFA's static inverted residual layer."""

    def __init__(self, cin, cout, k, stride, expand_ratio, mid=None, act="relu", use_se=False):
        super().__init__()
        mid = mid if mid is not None else round(cin * expand_ratio)
        self.out_channels = cout
        if expand_ratio == 1:
            self.inverted_bottleneck = None
        else:
            self.inverted_bottleneck = nn.Sequential(OrderedDict([
                ("conv", nn.Conv2d(cin, mid, 1, 1, 0, bias=False)),
                ("bn", nn.BatchNorm2d(mid)), ("act", build_activation(act))]))
        dw = [("conv", nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False)),
              ("bn", nn.BatchNorm2d(mid)), ("act", build_activation(act))]
        if use_se:
            dw.append(("se", SEModule(mid)))
        self.depth_conv = nn.Sequential(OrderedDict(dw))
        self.point_linear = nn.Sequential(OrderedDict([
            ("conv", nn.Conv2d(mid, cout, 1, 1, 0, bias=False)), ("bn", nn.BatchNorm2d(cout))]))

    def forward(self, x):
        if self.inverted_bottleneck is not None:
            x = self.inverted_bottleneck(x)
        return self.point_linear(self.depth_conv(x))


class IdentityLayer(nn.Module):
    def forward(self, x):
        return x


class ResidualBlock(nn.Module):
    def __init__(self, conv, shortcut):
        super().__init__()
        self.conv = conv
        self.shortcut = shortcut

    def forward(self, x):
        if self.shortcut is None:
            return self.conv(x)
        return self.conv(x) + self.shortcut(x)


class MobileNetV3(nn.Module):
    def __init__(self, first_conv, blocks, final_expand_layer, feature_mix_layer, classifier):
        super().__init__()
        self.first_conv = first_conv
        self.blocks = nn.ModuleList(blocks)
        self.final_expand_layer = final_expand_layer
        self.feature_mix_layer = feature_mix_layer
        self.classifier = classifier

    def forward(self, x):
        x = self.first_conv(x)
        for b in self.blocks:
            x = b(x)
        x = self.final_expand_layer(x)
        x = x.mean(3, keepdim=True).mean(2, keepdim=True)
        x = self.feature_mix_layer(x)
        return self.classifier(x.view(x.size(0), -1))


# ---- dynamic layers (the supernet) -------------------------------------------------------------

class DynamicSeparableConv2d(nn.Module):
    def __init__(self, max_channels, ks_list, stride):
        super().__init__()
        self.ks_list = sorted(set(ks_list))
        self.stride = stride
        self.conv = nn.Conv2d(max_channels, max_channels, max(ks_list), stride,
                              groups=max_channels, bias=False)
        for small, large in zip(self.ks_list[:-1], self.ks_list[1:]):
            self.register_parameter("%dto%d_matrix" % (large, small),
                                    nn.Parameter(torch.eye(small * small)))
        self.active_kernel_size = max(ks_list)

    def get_active_filter(self, in_channel, kernel_size):
        kmax = max(self.ks_list)
        start, end = sub_filter_start_end(kmax, kernel_size)
        filters = self.conv.weight[:in_channel, :in_channel, start:end, start:end]
        if kernel_size < kmax:
            start_filter = self.conv.weight[:in_channel, :in_channel, :, :]
            for i in range(len(self.ks_list) - 1, 0, -1):
                src, dst = self.ks_list[i], self.ks_list[i - 1]
                if src <= kernel_size:
                    break
                s, e = sub_filter_start_end(src, dst)
                f = start_filter[:, :, s:e, s:e].contiguous()
                f = f.view(f.size(0), f.size(1), -1)
                f = f.view(-1, f.size(2))
                f = F.linear(f, getattr(self, "%dto%d_matrix" % (src, dst)))   # flat @ M^T
                start_filter = f.view(filters.size(0), filters.size(1), dst, dst)
            filters = start_filter
        return filters

    def forward(self, x):
        k = self.active_kernel_size
        w = self.get_active_filter(x.size(1), k).contiguous()
        return F.conv2d(x, w, None, self.stride, k // 2, 1, x.size(1))


class DynamicConv2d(nn.Module):
    def __init__(self, max_in, max_out):
        super().__init__()
        self.conv = nn.Conv2d(max_in, max_out, 1, bias=False)
        self.active_out_channel = max_out

    def get_active_filter(self, out_channel, in_channel):
        return self.conv.weight[:out_channel, :in_channel, :, :]

    def forward(self, x):
        return F.conv2d(x, self.get_active_filter(self.active_out_channel, x.size(1)).contiguous())


class DynamicBatchNorm2d(nn.Module):
    def __init__(self, max_dim):
        super().__init__()
        self.bn = nn.BatchNorm2d(max_dim)

    def forward(self, x):
        c, bn = x.size(1), self.bn
        assert not bn.training
        return F.batch_norm(x, bn.running_mean[:c], bn.running_var[:c], bn.weight[:c], bn.bias[:c],
                            False, 0.0, bn.eps)


class DynamicSE(SEModule):
    def forward(self, x):
        c = x.size(1)
        mid = make_divisible(c // self.REDUCTION)
        y = x.mean(3, keepdim=True).mean(2, keepdim=True)
        y = F.conv2d(y, self.fc.reduce.weight[:mid, :c].contiguous(), self.fc.reduce.bias[:mid])
        y = F.conv2d(F.relu(y), self.fc.expand.weight[:c, :mid].contiguous(), self.fc.expand.bias[:c])
        return x * self.fc.h_sigmoid(y)


def copy_bn(dst, src):
    c = dst.num_features
    dst.weight.data.copy_(src.weight.data[:c])
    dst.bias.data.copy_(src.bias.data[:c])
    dst.running_mean.data.copy_(src.running_mean.data[:c])
    dst.running_var.data.copy_(src.running_var.data[:c])


class DynamicMBConvLayer(nn.Module):
    def __init__(self, cin, cout, ks_list, e_list, stride, act, use_se):
        super().__init__()
        self.ks_list, self.e_list = ks_list, e_list
        self.stride, self.act, self.use_se = stride, act, use_se
        self.out_channels = cout
        max_mid = make_divisible(round(cin * max(e_list)))
        self.inverted_bottleneck = nn.Sequential(OrderedDict([
            ("conv", DynamicConv2d(cin, max_mid)), ("bn", DynamicBatchNorm2d(max_mid)),
            ("act", build_activation(act))]))
        dw = [("conv", DynamicSeparableConv2d(max_mid, ks_list, stride)),
              ("bn", DynamicBatchNorm2d(max_mid)), ("act", build_activation(act))]
        if use_se:
            dw.append(("se", DynamicSE(max_mid)))
        self.depth_conv = nn.Sequential(OrderedDict(dw))
        self.point_linear = nn.Sequential(OrderedDict([
            ("conv", DynamicConv2d(max_mid, cout)), ("bn", DynamicBatchNorm2d(cout))]))
        self.active_kernel_size = max(ks_list)
        self.active_expand_ratio = max(e_list)

    def active_middle_channel(self, cin):
        return make_divisible(round(cin * self.active_expand_ratio))

    def forward(self, x):
        self.inverted_bottleneck.conv.active_out_channel = self.active_middle_channel(x.size(1))
        self.depth_conv.conv.active_kernel_size = self.active_kernel_size
        return self.point_linear(self.depth_conv(self.inverted_bottleneck(x)))

    def get_active_subnet(self, cin):
        mid = self.active_middle_channel(cin)
        sub = MBConvLayer(cin, self.out_channels, self.active_kernel_size, self.stride,
                          self.active_expand_ratio, mid, self.act, self.use_se)
        sub.inverted_bottleneck.conv.weight.data.copy_(
            self.inverted_bottleneck.conv.get_active_filter(mid, cin).data)
        copy_bn(sub.inverted_bottleneck.bn, self.inverted_bottleneck.bn.bn)
        sub.depth_conv.conv.weight.data.copy_(
            self.depth_conv.conv.get_active_filter(mid, self.active_kernel_size).data)
        copy_bn(sub.depth_conv.bn, self.depth_conv.bn.bn)
        if self.use_se:
            se_mid = make_divisible(mid // SEModule.REDUCTION)
            src, dst = self.depth_conv.se.fc, sub.depth_conv.se.fc
            dst.reduce.weight.data.copy_(src.reduce.weight.data[:se_mid, :mid])
            dst.reduce.bias.data.copy_(src.reduce.bias.data[:se_mid])
            dst.expand.weight.data.copy_(src.expand.weight.data[:mid, :se_mid])
            dst.expand.bias.data.copy_(src.expand.bias.data[:mid])
        sub.point_linear.conv.weight.data.copy_(
            self.point_linear.conv.get_active_filter(self.out_channels, mid).data)
        copy_bn(sub.point_linear.bn, self.point_linear.bn.bn)
        return sub


class OFAMobileNetV3(MobileNetV3):
    """OFA's OFAMobileNetV3 with smaller widths and three elastic stages (see the .ndl)."""
    STEM, WIDTHS, HEAD = 8, [8, 8, 16], (32, 48, 10)
    ACTS, SES = ["relu", "h_swish", "h_swish"], [False, True, True]

    def __init__(self, ks_list=(3, 5, 7), e_list=(3, 4, 6), d_list=(2, 3, 4)):
        depth = max(d_list)
        first_conv = ConvLayer(3, self.STEM, 3, 2, act="h_swish")
        first = MBConvLayer(self.STEM, self.STEM, 3, 1, 1, act="relu")
        blocks = [ResidualBlock(first, IdentityLayer())]
        self.block_group_info = []
        cin = self.STEM
        for width, act, se in zip(self.WIDTHS, self.ACTS, self.SES):
            self.block_group_info.append([len(blocks) + i for i in range(depth)])
            for i in range(depth):
                stride = 2 if i == 0 else 1
                layer = DynamicMBConvLayer(cin, width, list(ks_list), list(e_list), stride, act, se)
                shortcut = IdentityLayer() if stride == 1 and cin == width else None
                blocks.append(ResidualBlock(layer, shortcut))
                cin = width
        fe, last, ncls = self.HEAD
        super().__init__(first_conv, blocks, ConvLayer(cin, fe, 1),
                         ConvLayer(fe, last, 1, use_bn=False), LinearLayer(last, ncls))
        self.runtime_depth = [len(b) for b in self.block_group_info]

    def forward(self, x):
        x = self.blocks[0](self.first_conv(x))
        for stage, idx in enumerate(self.block_group_info):
            for i in idx[:self.runtime_depth[stage]]:
                x = self.blocks[i](x)
        x = self.final_expand_layer(x)
        x = x.mean(3, keepdim=True).mean(2, keepdim=True)
        x = self.feature_mix_layer(x)
        return self.classifier(x.view(x.size(0), -1))

    def set_active_subnet(self, ks, e, d):
        for block, k, ratio in zip(self.blocks[1:], ks, e):
            block.conv.active_kernel_size = k
            block.conv.active_expand_ratio = ratio
        for i, depth in enumerate(d):
            self.runtime_depth[i] = min(len(self.block_group_info[i]), depth)

    def get_active_subnet(self):
        blocks = [copy.deepcopy(self.blocks[0])]
        cin = self.STEM
        for stage, idx in enumerate(self.block_group_info):
            for i in idx[:self.runtime_depth[stage]]:
                blocks.append(ResidualBlock(self.blocks[i].conv.get_active_subnet(cin),
                                            copy.deepcopy(self.blocks[i].shortcut)))
                cin = blocks[-1].conv.out_channels
        return MobileNetV3(copy.deepcopy(self.first_conv), blocks,
                           copy.deepcopy(self.final_expand_layer),
                           copy.deepcopy(self.feature_mix_layer), copy.deepcopy(self.classifier))


# ---- weights, counts ------------------------------------------------------------------------------

def randomize(model, seed):
    """Random weights, BatchNorm statistics and transformation matrices, then every float
    tensor rounded to float16 (the file stores F16; PyTorch computes with the widened
    values, as ndlc does)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("_matrix"):
                n = t.shape[0]
                t.copy_(torch.eye(n) + 0.15 * torch.randn(n, n, generator=g) / n ** 0.5)
            elif name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif name.endswith("running_mean") or name.endswith("bias"):
                t.copy_(0.2 * torch.randn(t.shape, generator=g))
            elif t.dim() == 1:  # BatchNorm weight
                t.copy_(0.6 + 0.8 * torch.rand(t.shape, generator=g))
            else:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=g) * (1.5 / fan_in) ** 0.5)
            t.copy_(t.half().float())


def fused_parameter_count(subnet):
    """Parameters of the subnet after folding every BatchNorm into its Conv2d."""
    net = copy.deepcopy(subnet).eval()

    def fuse(seq, conv="conv", bn="bn"):
        setattr(seq, conv, fuse_conv_bn_eval(getattr(seq, conv), getattr(seq, bn)))
        setattr(seq, bn, nn.Identity())

    fuse(net.first_conv)
    fuse(net.final_expand_layer)
    for b in net.blocks:
        for part in (b.conv.inverted_bottleneck, b.conv.depth_conv, b.conv.point_linear):
            if part is not None:
                fuse(part)
    return sum(p.numel() for p in net.parameters())


def ofa_macs(subnet, r):
    """OFA's flops_counter rule at batch 1."""
    total = [0]

    def conv_hook(m, _, y):
        total[0] += m.in_channels * y.nelement() * m.weight.size(2) * m.weight.size(3) // m.groups

    def linear_hook(m, _, y):
        total[0] += m.in_features * m.out_features

    hooks = []
    for m in subnet.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    with torch.no_grad():
        subnet(torch.zeros(1, 3, r, r))
    for h in hooks:
        h.remove()
    return total[0]


# ---- the cases ------------------------------------------------------------------------------------

NBLK = 12
# stem, doc, config (ks, e, d, r), how ndlc gets it ("D": -D options, "subnet": a json
# file written beside the case), batch
CASES = [
    ("ofa_min", "the smallest subnet: d=2, kernel 3 (two transform steps), expand 3, r=32",
     ([3] * NBLK, [3] * NBLK, [2, 2, 2], 32), "D", 2),
    ("ofa_max", "the largest subnet: d=4, kernel 7 (no transform), expand 6, r=64",
     ([7] * NBLK, [6] * NBLK, [4, 4, 4], 64), "D", 1),
    ("ofa_subnet_json", "an OFA-style --subnet file ('wid': null, 'r': [48]), mixed choices",
     ([3, 5, 7, 5, 7, 3, 5, 3, 7, 7, 5, 3], [4, 6, 3, 4, 3, 6, 4, 6, 3, 4, 6, 3], [3, 4, 2], 48),
     "subnet", 1),
    ("ofa_kernel5", "kernel 5 everywhere (one transform step), mixed expand, d=[4,2,3], r=40",
     ([5] * NBLK, [6, 3, 4, 6, 4, 4, 3, 6, 3, 6, 4, 3], [4, 2, 3], 40), "D", 2),
    ("ofa_mixed", "a mixed subnet given with -D over a --subnet file (-D wins), r=56",
     ([7, 3, 3, 5, 5, 7, 3, 7, 3, 5, 7, 5], [3, 3, 6, 6, 4, 3, 6, 4, 6, 3, 4, 6], [2, 4, 3], 56),
     "D+subnet", 1),
]

HEADER = ("# {stem}: {doc}\n"
          "# Generated by tests/reference/ofa_cases.py from examples/ofa_mbv3.ndl; edit those.\n"
          "# ARGS: {args}\n")


def seed_of(stem):
    return zlib.crc32(stem.encode("utf-8"))


def d_list(v):
    return "[%s]" % ",".join(str(x) for x in v)


def save_checked(path, tensors):
    st.save(path, tensors)
    back = st.load(path)
    assert sorted(back) == sorted(tensors), path
    for k, v in tensors.items():
        assert np.array_equal(back[k][1], np.asarray(v)), (path, k)


def supernet():
    torch.manual_seed(0)
    net = OFAMobileNetV3()
    randomize(net, seed_of("ofa_mbv3"))
    return net.eval()


def run_subnet(net, cfg, x):
    ks, e, d, r = cfg
    net.set_active_subnet(ks, e, d)
    sub = net.get_active_subnet().eval()
    with torch.no_grad():
        y = sub(x)
        y_dyn = net(x)
    assert torch.allclose(y, y_dyn, atol=1e-5, rtol=1e-5), "supernet and extracted subnet disagree"
    return sub, y


def write_example(net, ndl_text):
    ex = os.path.join(ROOT, "examples")
    sd = {k: v.numpy().astype(np.float16) if v.is_floating_point() else v.numpy()
          for k, v in net.state_dict().items()}
    save_checked(os.path.join(ex, "ofa_mbv3.safetensors"), sd)
    cfg = CASES[2][2]
    ks, e, d, r = cfg
    with open(os.path.join(ex, "ofa_mbv3.subnet.json"), "w") as f:
        json.dump({"wid": None, "ks": ks, "e": e, "d": d, "r": [r]}, f)
        f.write("\n")
    rng = np.random.default_rng(seed_of("ofa_mbv3.in"))
    x = rng.standard_normal((1, 3, r, r)).astype(np.float32)
    _, y = run_subnet(net, cfg, torch.from_numpy(x))
    save_checked(os.path.join(ex, "ofa_mbv3.in.safetensors"), {"x": x})
    save_checked(os.path.join(ex, "ofa_mbv3.out.safetensors"), {"y": y.numpy()})
    return os.path.getsize(os.path.join(ex, "ofa_mbv3.safetensors"))


def write_ofa_cases(net, ndl_text, out_dir):
    body = ndl_text.replace('weights "ofa_mbv3.safetensors";',
                            'weights "../../examples/ofa_mbv3.safetensors";')
    assert body != ndl_text
    for stem, doc, cfg, how, batch in CASES:
        ks, e, d, r = cfg
        dargs = "-D ks=%s -D e=%s -D d=%s -D r=%d" % (d_list(ks), d_list(e), d_list(d), r)
        if how == "D":
            args = dargs
        elif how == "subnet":
            args = "--subnet {dir}/%s.subnet.json" % stem
            with open(os.path.join(out_dir, stem + ".subnet.json"), "w") as f:
                json.dump({"wid": None, "ks": ks, "e": e, "d": d, "r": [r]}, f)
                f.write("\n")
        else:  # -D wins over a --subnet file holding other values
            args = "--subnet {dir}/%s.subnet.json %s" % (stem, dargs)
            with open(os.path.join(out_dir, stem + ".subnet.json"), "w") as f:
                json.dump({"ks": [3] * NBLK, "e": [3] * NBLK, "d": [2, 2, 2], "r": 32}, f)
                f.write("\n")
        with open(os.path.join(out_dir, stem + ".ndl"), "w") as f:
            f.write(HEADER.format(stem=stem, doc=doc, args=args) + body)
        rng = np.random.default_rng(seed_of(stem))
        x = rng.standard_normal((batch, 3, r, r)).astype(np.float32)
        sub, y = run_subnet(net, cfg, torch.from_numpy(x))
        assert y.abs().max() < 100 and y.std() > 1e-2, (stem, "badly scaled output")
        save_checked(os.path.join(out_dir, stem + ".in.safetensors"), {"x": x})
        save_checked(os.path.join(out_dir, stem + ".out.safetensors"), {"y": y.numpy()})
        with open(os.path.join(out_dir, stem + ".expect"), "w") as f:
            f.write("parameters %d\nmacs %d\n" % (fused_parameter_count(sub), ofa_macs(sub, r)))


# ElasticConv2d alone: (stem, doc, in, out, stored in/out, kmax, k, stride, groups, transform)
ECONV = [
    ("econv_dw_7to3", "depthwise, kmax 7, k 3: both transform steps, leading 6 of 8 channels",
     6, 6, 8, 8, 7, 3, 1, "c", True),
    ("econv_full_5to3_stride2", "a full conv (groups 1), kmax 5, k 3, stride 2, in 4 of 6, out 5 of 7",
     4, 5, 6, 7, 5, 3, 2, 1, True),
    ("econv_no_transform", "transform = false: the centred 3x3 crop of a 7x7 kernel, groups 2",
     4, 6, 4, 6, 7, 3, 1, 2, False),
    ("econv_kmax", "k = kmax: the stored kernel itself, no matrix needed (none in the file)",
     3, 3, 3, 3, 5, 5, 1, "c", True),
]


def write_econv_cases(out_dir):
    for stem, doc, cin, cout, sin, sout, kmax, k, stride, groups, transform in ECONV:
        g = cin if groups == "c" else groups
        sg = sin if groups == "c" else groups
        torch.manual_seed(seed_of(stem))
        w = (torch.randn(sout, sin // sg, kmax, kmax) * 0.3)
        tensors = {"conv.weight": w}
        kk, flt = kmax, w[:cout, :cin // g]
        while transform and kk > k:
            t = kk - 2
            m = torch.eye(t * t) + 0.2 * torch.randn(t * t, t * t) / t
            tensors["conv.%dto%d_matrix" % (kk, t)] = m
            s, e = sub_filter_start_end(kk, t)
            c = flt[:, :, s:e, s:e].reshape(-1, t * t)
            flt = F.linear(c, m).view(flt.size(0), flt.size(1), t, t)
            kk = t
        if not transform:
            s, e = sub_filter_start_end(kmax, k)
            flt = flt[:, :, s:e, s:e]
        x = torch.randn(2, cin, 9, 9)
        y = F.conv2d(x, flt, None, stride, k // 2, 1, g)
        def elastic(name, used, stored):
            return "  elastic %s: int in {%s} = %d;\n" % (
                name, ", ".join(str(v) for v in sorted({used, stored})), used)
        if groups == "c":
            decls, a_in, a_out, a_g = elastic("c", cin, sin), "c", "c", "c"
        else:
            decls = elastic("ci", cin, sin) + elastic("co", cout, sout)
            a_in, a_out, a_g = "ci", "co", str(groups)
        ndl = ("# %s: %s\n# Generated by tests/reference/ofa_cases.py; edit it there.\n"
               "model %s {\n%s  input x: f32[N, %s, 9, 9];\n  output y;\n"
               "  weights \"%s.w.safetensors\";\n"
               "  conv = ElasticConv2d(%s, %s, %d, %d, stride = %d, groups = %s%s);\n"
               "  forward { y = conv(x); }\n}\n"
               % (stem, doc, "".join(p.capitalize() for p in stem.split("_")), decls, a_in, stem,
                  a_in, a_out, kmax, k, stride, a_g, "" if transform else ", transform = false"))
        with open(os.path.join(out_dir, stem + ".ndl"), "w") as f:
            f.write(ndl)
        save_checked(os.path.join(out_dir, stem + ".w.safetensors"),
                     {k_: v.numpy() for k_, v in tensors.items()})
        save_checked(os.path.join(out_dir, stem + ".in.safetensors"), {"x": x.numpy()})
        save_checked(os.path.join(out_dir, stem + ".out.safetensors"), {"y": y.numpy()})


# A Linear whose size reaches the elastic variable e only through `?:` or a list index
# (spec 8.1: still a leading slice of the stored [4, 4] / [3, 4] weight): (stem, doc, the
# layer, input width, stored out, stored in, used out, used in).
DERIVED = [
    ("derived_ternary", "the out size is `e > 2 ? 4 : 2` (the condition depends on e)",
     "Linear(4, e > 2 ? 4 : 2)", "4", 4, 4, 2, 4),
    ("derived_index", "the in size is `W[e / 2 - 1]` (the index depends on e)",
     "Linear(W[e / 2 - 1], 3)", "e", 3, 4, 3, 2),
]


def write_derived_cases(out_dir):
    for stem, doc, layer, width, sout, sin, cout, cin in DERIVED:
        torch.manual_seed(seed_of(stem))
        w, b = torch.randn(sout, sin), torch.randn(sout)
        x = torch.randn(2, cin)
        y = F.linear(x, w[:cout, :cin], b[:cout])
        ndl = ("# %s: %s\n# Generated by tests/reference/ofa_cases.py; edit it there.\n"
               "model %s {\n  elastic e: int in {2, 4} = 2;\n  input x: f32[N, %s];\n"
               "  output y;\n  weights \"%s.w.safetensors\";\n  W = [2, 4];\n"
               "  fc = %s;\n  forward { y = fc(x); }\n}\n"
               % (stem, doc, "".join(p.capitalize() for p in stem.split("_")), width, stem, layer))
        with open(os.path.join(out_dir, stem + ".ndl"), "w") as f:
            f.write(ndl)
        save_checked(os.path.join(out_dir, stem + ".w.safetensors"),
                     {"fc.weight": w.numpy(), "fc.bias": b.numpy()})
        save_checked(os.path.join(out_dir, stem + ".in.safetensors"), {"x": x.numpy()})
        save_checked(os.path.join(out_dir, stem + ".out.safetensors"), {"y": y.numpy()})


def write_diag_weights(diag_dir):
    """The kernel alone, in OFA's layout, for the ElasticConv2d diagnostics cases."""
    w = np.linspace(-1, 1, 4 * 49, dtype=np.float32).reshape(4, 1, 7, 7)
    save_checked(os.path.join(diag_dir, "econv_nomatrix.w.safetensors"), {"conv.conv.weight": w})


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    with open(os.path.join(ROOT, "examples", "ofa_mbv3.ndl")) as f:
        ndl_text = f.read()
    net = supernet()
    # the example's keys are the supernet's: every parameter of the .ndl is in the file
    size = write_example(net, ndl_text)
    out_dir = os.path.join(ROOT, "tests", "supernet")
    os.makedirs(out_dir, exist_ok=True)
    write_ofa_cases(net, ndl_text, out_dir)
    write_econv_cases(out_dir)
    write_derived_cases(out_dir)
    write_diag_weights(os.path.join(out_dir, "diag"))
    print("ofa_cases: examples/ofa_mbv3.safetensors %.1f KiB; %d subnet cases, %d ElasticConv2d "
          "cases in tests/supernet/" % (size / 1024.0, len(CASES), len(ECONV)))


if __name__ == "__main__":
    main()
