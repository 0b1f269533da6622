# SPDX-License-Identifier: MIT
"""model_cases.py - whole models, each defined once in PyTorch (nn.Module) and once in
NDL; the weight file is the PyTorch model's state_dict (seeded random init, BatchNorm
running statistics set explicitly, eval mode).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from golden import T, case, state_dict_np
from module_cases import causal_mask, randomize_


# ---- MLP -------------------------------------------------------------------------------------
class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(96, 64), nn.Linear(64, 32), nn.Linear(32, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


MLP_NDL = """
model MLP {
  input x: f32[N <= 64, 96];
  output y: f32[N, 10];
  output p;
  output cls;
  weights "mlp.w.safetensors";

  fc1 = Linear(96, 64);
  fc2 = Linear(64, 32);
  fc3 = Linear(32, 10);

  forward {
    let logits = fc3(relu(fc2(relu(fc1(x)))));
    y = logits;
    p = softmax(logits, dim = 1);
    cls = argmax(logits, 1);
  }
}
"""


@case("models", "mlp")
def _(c):
    m = MLP().eval()
    x = c.randn(3, 96)
    with torch.no_grad():
        y = m(T(x))
    top2 = torch.topk(y, 2, dim=1).values
    assert bool(((top2[:, 0] - top2[:, 1]) > 1e-3).all()), "argmax near-tie; change the seed"
    return dict(doc="MLP 96-64-32-10 (batch 3 of a bounded symbolic N), softmax and argmax heads",
                ndl=MLP_NDL, inputs={"x": x}, weights=state_dict_np(m),
                outputs={"y": y, "p": torch.softmax(y, 1), "cls": torch.argmax(y, 1)})


# ---- small CNN with BatchNorm and residual blocks --------------------------------------------
class ResBlock(nn.Module):
    def __init__(self, c, expand=2):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c * expand, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c * expand)
        self.conv2 = nn.Conv2d(c * expand, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(h)))


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.blocks = nn.ModuleList([ResBlock(8) for _ in range(2)])
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        h = F.relu(self.bn(self.stem(x)))
        for b in self.blocks:
            h = b(h)
        h = self.pool(h)
        return self.fc(h.mean(dim=(2, 3)))


CNN_NDL = """
module ResBlock(c: int, expand: int = 2) {
  conv1 = Conv2d(c, c * expand, 3, pad = 1, bias = false);
  bn1   = BatchNorm2d(c * expand);
  conv2 = Conv2d(c * expand, c, 3, pad = 1, bias = false);
  bn2   = BatchNorm2d(c);

  forward(x) {
    let h = relu(bn1(conv1(x)));
    return relu(x + bn2(conv2(h)));
  }
}

model SmallCNN {
  input x: f32[N, 3, 12, 10];
  output y;
  weights "small_cnn.w.safetensors";

  stem   = Conv2d(3, 8, 3, stride = 2, pad = 1);
  bn     = BatchNorm2d(8);
  blocks = [ResBlock(8) for i in 0..2];
  pool   = MaxPool2d(2);
  fc     = Linear(8, 5);

  forward {
    let h = relu(bn(stem(x)));
    for b in blocks {
      h = b(h);
    }
    h = pool(h);
    y = fc(mean(h, dims = [2, 3]));
  }
}
"""


@case("models", "small_cnn")
def _(c):
    m = randomize_(SmallCNN(), c)
    x = c.randn(2, 3, 12, 10)
    with torch.no_grad():
        y = m(T(x))
    return dict(doc="CNN: strided stem + BatchNorm, two residual blocks (user module with args, "
                    "for b in blocks), max pool, global mean, Linear",
                ndl=CNN_NDL, inputs={"x": x}, weights=state_dict_np(m), outputs={"y": y})


# ---- pre-LN transformer ------------------------------------------------------------------------
class FFN(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, d, heads, hidden):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.ffn = FFN(d, hidden)

    def forward(self, x):
        h = self.ln1(x)
        t = x.shape[1]
        x1 = x + self.attn(h, h, h, attn_mask=causal_mask(t), need_weights=False)[0]
        return x1 + self.ffn(self.ln2(x1))


BLOCK_NDL = """
module FFN(d: int, hidden: int) {
  fc1 = Linear(d, hidden);
  fc2 = Linear(hidden, d);

  forward(x) {
    return fc2(gelu(fc1(x)));
  }
}

module Block(d: int, heads: int, hidden: int) {
  ln1  = LayerNorm(d);
  attn = MultiheadAttention(d, heads);
  ln2  = LayerNorm(d);
  ffn  = FFN(d, hidden);

  forward(x) {
    let h = ln1(x);
    let x1 = x + attn(h, h, h, causal = true);
    return x1 + ffn(ln2(x1));
  }
}
"""


@case("models", "transformer_block")
def _(c):
    m = randomize_(nn.ModuleDict({"block": Block(16, 4, 32)}), c)
    x = c.randn(2, 6, 16)
    with torch.no_grad():
        y = m["block"](T(x))
    ndl = BLOCK_NDL + """
model TransformerBlock {
  input x: f32[B, 6, 16];
  output y;
  weights "transformer_block.w.safetensors";

  block = Block(16, 4, 32);

  forward {
    y = block(x);
  }
}
"""
    return dict(doc="one pre-LN transformer block: causal MultiheadAttention + LayerNorm + GELU FFN",
                ndl=ndl, inputs={"x": x}, weights=state_dict_np(m), outputs={"y": y})


class TinyGPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.tok = nn.Embedding(50, 16)
        self.pos = nn.Parameter(T(c.randn(7, 16, scale=0.1)))
        self.blocks = nn.ModuleList([Block(16, 2, 32) for _ in range(2)])
        self.lnf = nn.LayerNorm(16)
        self.head = nn.Linear(16, 50)

    def forward(self, ids):
        h = self.tok(ids) + self.pos
        for b in self.blocks:
            h = b(h)
        bsz = ids.shape[0]
        return self.head(self.lnf(h).reshape(bsz * 7, 16))


@case("models", "tiny_gpt")
def _(c):
    m = randomize_(TinyGPT(c), c)
    ids = c.ints(0, 50, 2, 7)
    with torch.no_grad():
        y = m(T(ids))
    ndl = BLOCK_NDL + """
model TinyGPT {
  input ids: i64[B, 7];
  output logits;
  weights "tiny_gpt.w.safetensors";

  tok    = Embedding(50, 16);
  param pos: f32[7, 16];
  blocks = [Block(16, 2, 32) for i in 0..2];
  lnf    = LayerNorm(16);
  head   = Linear(16, 50);

  forward {
    let h = tok(ids) + pos;
    for b in blocks {
      h = b(h);
    }
    logits = head(reshape(lnf(h), [B * 7, 16]));
  }
}
"""
    return dict(doc="decoder: token Embedding + learned positions, two causal pre-LN blocks, "
                    "final LayerNorm, reshape to [B*7, 16], Linear head",
                ndl=ndl, inputs={"ids": ids}, weights=state_dict_np(m), outputs={"logits": y})
