#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen.py - random valid NDL programs for the differential test (tests/diff).

    gen.py SEED OUTDIR

writes, deterministically for SEED (Python's standard library only):
  OUTDIR/case.ndl             a random model: a chain/DAG of 3-25 ops drawn from the spec's
                              built-ins, built-in modules, user modules in lists and `for`
                              loops, symbolic batch sizes, fusion patterns, parameter
                              expressions; it names "case.w.safetensors" as its weights
  OUTDIR/case.w.safetensors   its parameters (mostly F32, some F16/BF16)
  OUTDIR/case.in.safetensors  its inputs (the input file fixes the symbolic sizes)
  OUTDIR/twin.ndl             the same computation with every parameter turned into a model
                              input and every module call expanded into built-in functions
                              (user modules inlined, loops over module lists unrolled), so
                              the compiler's constant passes (fold, bnfold) cannot touch it:
                              `ndlc run twin.ndl` is a second reference, independent of them
  OUTDIR/twin.in.safetensors  the inputs of case.in plus every parameter, named p_<key>

case.ndl may carry `# TOL: ATOL RTOL` (looser tolerance for deep chains) and
`# FLAGS: ...` (extra ndlc options for the compiled modes, e.g. --threads 2).
Values stay numerically tame: inputs and weights in [-1, 1] scaled like Kaiming-uniform so
activations stay O(1); log/sqrt/rsqrt and divisors get operands bounded away from zero;
argmax reads only well-separated values; casts to integers read values away from integers.
"""
import math
import os
import random
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'reference'))
import st as st_writer  # noqa: E402  (the shared safetensors writer)

# --------------------------------------------------------------------------------------
# safetensors files: values packed here, written by tests/reference/st.py

def _bf16(x):
    u = struct.unpack('<I', struct.pack('<f', x))[0]
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF


_PACK = {'F32': 'f', 'F16': 'e', 'I64': 'q', 'I32': 'i', 'F64': 'd'}


def st_save(path, tensors):
    """tensors: name -> (dtype, shape, flat list of values); written by the shared writer
    (tests/reference/st.py) as raw little-endian bytes."""
    raw = {}
    for name, (dt, shape, vals) in tensors.items():
        if dt == 'BF16':
            data = struct.pack('<%dH' % len(vals), *[_bf16(v) for v in vals])
        elif dt in _PACK:
            data = struct.pack('<%d%s' % (len(vals), _PACK[dt]), *vals)
        else:
            raise ValueError(dt)
        raw[name] = (dt, shape, data)
    st_writer.save(path, raw)


# --------------------------------------------------------------------------------------
# small helpers

def prod(xs):
    p = 1
    for x in xs:
        p *= x
    return p


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def num(x):
    """A compile-time scalar literal."""
    if isinstance(x, bool):
        return 'true' if x else 'false'
    if isinstance(x, int):
        return str(x)
    r = repr(float(x))
    return r


class Sym:
    """A symbolic dimension coef * N."""
    __slots__ = ('c',)

    def __init__(self, c):
        self.c = c

    def __eq__(self, o):
        return isinstance(o, Sym) and o.c == self.c

    def __hash__(self):
        return hash(('S', self.c))

    def __repr__(self):
        return 'Sym(%d)' % self.c


def is_sym(d):
    return isinstance(d, Sym)


def all_int(shape):
    return all(not is_sym(d) for d in shape)


class P:
    """A pair of texts: the original program's and the twin's."""
    __slots__ = ('o', 't')

    def __init__(self, o, t=None):
        self.o = o
        self.t = o if t is None else t


def F(fmt, *args):
    """Formats both texts of a pair; args are P, Val or plain strings."""
    return P(fmt.format(*[getattr(a, 'o', a) for a in args]),
             fmt.format(*[getattr(a, 't', a) for a in args]))


class Val:
    """A tensor value bound to a `let` name in forward."""

    def __init__(self, name, shape, dtype='f32', sc=0.6, bnd=None, sign=None, lo=0.0):
        self.name = name
        self.o = self.t = name
        self.shape = list(shape)
        self.dtype = dtype
        self.sc = sc                      # RMS estimate
        self.bnd = 3 * sc if bnd is None else bnd   # max |x| estimate
        self.sign = sign                  # None | 'nonneg' | 'pos' (pos: >= lo > 0)
        self.lo = lo
        self.sep = 0.0                    # > 0: distinct values at least this far apart
        self.idmax = 0                    # integer values: all in 0 .. idmax-1
        self.disc = False                 # float values at least 0.2 away from integers
        self.rowvar = True                # varies along the last axis (safe to normalize)

    @property
    def rank(self):
        return len(self.shape)


ACTS = ['relu', 'relu6', 'gelu', 'gelu_tanh', 'silu', 'sigmoid', 'tanh', 'hardswish',
        'hardsigmoid', 'abs', 'neg']
ACT_MODULES = {'relu': 'ReLU()', 'relu6': 'ReLU6()', 'gelu': 'GELU()', 'silu': 'SiLU()',
               'sigmoid': 'Sigmoid()', 'tanh': 'Tanh()', 'hardswish': 'Hardswish()'}


def act_stats(fn, sc, bnd):
    """(sc, bnd, sign, lo) after an activation."""
    if fn in ('relu', 'relu6'):
        return sc * 0.6, min(bnd, 6.0) if fn == 'relu6' else bnd, 'nonneg', 0.0
    if fn in ('gelu', 'gelu_tanh', 'silu', 'hardswish'):
        return sc * 0.6, bnd, None, 0.0
    if fn == 'sigmoid':
        return 0.5, 1.0, 'pos', 1.0 / (1.0 + math.exp(min(bnd, 50)))
    if fn == 'hardsigmoid':
        return 0.5, 1.0, 'nonneg', 0.0
    if fn == 'tanh':
        return min(sc, 0.7), 1.0, None, 0.0
    if fn == 'abs':
        return sc, bnd, 'nonneg', 0.0
    if fn in ('neg', 'identity'):
        return sc, bnd, None, 0.0
    raise ValueError(fn)


# --------------------------------------------------------------------------------------
# compile-time expressions in user modules: text (over argument names) + value

class CE:
    def __init__(self, t, v, atom=True):
        self.t, self.v, self.atom = t, v, atom

    def w(self):
        return self.t if self.atom else '(' + self.t + ')'

    def _bin(self, o, op, v):
        o = ce(o)
        return CE('%s %s %s' % (self.w(), op, o.w()), v, False)

    def __mul__(self, o):
        return self._bin(o, '*', self.v * ce(o).v)

    def __add__(self, o):
        return self._bin(o, '+', self.v + ce(o).v)

    def __sub__(self, o):
        return self._bin(o, '-', self.v - ce(o).v)

    def __floordiv__(self, o):
        return self._bin(o, '/', self.v // ce(o).v)


def ce(x):
    return x if isinstance(x, CE) else CE(num(x), x)


# --------------------------------------------------------------------------------------
# built-in module instances: weights, constructor text, twin expansion

class Inst:
    def __init__(self, kind, prefix, cfg):
        self.kind = kind          # 'Linear', 'Conv2d', ...
        self.prefix = prefix      # key prefix, e.g. "blocks.0.conv1."
        self.cfg = cfg            # concrete configuration
        self.wt = {}              # slot -> twin text
        self.children = []        # Sequential
        self.user = None          # (UType, values) for user-module instances


class TCtx:
    """Renders a user module's body: mode 'def' writes the module definition (once per
    type), mode 'inline' writes it into the twin's forward for one instance."""

    def __init__(self, g, mode, ut, values, prefix='', xshape=None):
        self.g, self.mode, self.ut, self.values, self.prefix = g, mode, ut, values, prefix
        self.xshape = xshape
        self.decls = []
        self.lines = []
        self.subs = {}
        self.nlet = 0
        self.ind = 2
        self.result = None

    def arg(self, name):
        v = self.values[name]
        if self.mode == 'def':
            return CE(name, v)
        return CE(num(v), v)

    def T(self, x):
        x = ce(x)
        return x.t if self.mode == 'def' else num(x.v)

    def sub(self, local, kind, args, kw=None):
        """A built-in sub-module; args/kw hold CE or plain values."""
        kw = kw or {}
        if self.mode == 'def':
            self.decls.append('%s = %s;' % (local, self.g.ctor_text(
                kind, [self.T(a) for a in args],
                [(k, self.T(v) if not isinstance(v, bool) else num(v)) for k, v in kw.items()])))
        else:
            vals = [ce(a).v for a in args]
            kvals = {k: (v if isinstance(v, bool) else ce(v).v) for k, v in kw.items()}
            self.subs[local] = self.g.make_inst(kind, self.prefix + local + '.', vals, kvals)
        return local

    def usub(self, local, ut, argvals):
        """A user-module sub-instance; argvals: name -> CE."""
        if self.mode == 'def':
            self.g.define(ut, {k: ce(v).v for k, v in argvals.items()}, self.xshape)
            self.decls.append('%s = %s(%s);' % (local, ut.name, ', '.join(
                '%s = %s' % (k, self.T(v)) for k, v in argvals.items())))
        else:
            inst = Inst(ut.name, self.prefix + local + '.', {})
            inst.user = (ut, {k: ce(v).v for k, v in argvals.items()})
            self.subs[local] = inst
        return local

    def call(self, local, xs, kw=None, shapes=None):
        kw = kw or {}
        if self.mode == 'def':
            args = list(xs) + ['%s = %s' % (k, v) for k, v in kw.items()]
            return '%s(%s)' % (local, ', '.join(args))
        return self.g.expand(self.subs[local], xs, kw, shapes or [self.xshape] * len(xs))

    def param(self, local, shape, init):
        if self.mode == 'def':
            self.decls.append('param %s: f32[%s];' % (local, ', '.join(self.T(d) for d in shape)))
            return local
        return self.g.add_weight(self.prefix + local, [ce(d).v for d in shape], init)

    def let(self, expr):
        if self.mode == 'def':
            self.nlet += 1
            name = 'h%d' % self.nlet
            self.lines.append(' ' * self.ind + 'let %s = %s;' % (name, expr))
            return name
        return self.g.tlet(expr)

    def assign(self, name, expr):
        if self.mode == 'def':
            self.lines.append(' ' * self.ind + '%s = %s;' % (name, expr))
        else:
            self.g.fwd_t.append('%s = %s;' % (name, expr))

    def if_(self, cond, then_fn, else_fn=None):
        if self.mode == 'def':
            self.lines.append(' ' * self.ind + 'if %s {' % cond)
            self.ind += 2
            then_fn()
            self.ind -= 2
            if else_fn:
                self.lines.append(' ' * self.ind + '} else {')
                self.ind += 2
                else_fn()
                self.ind -= 2
            self.lines.append(' ' * self.ind + '}')
        else:
            if self.values[cond]:
                then_fn()
            elif else_fn:
                else_fn()

    def ret(self, expr):
        if self.mode == 'def':
            self.lines.append(' ' * self.ind + 'return %s;' % expr)
        self.result = expr


class UType:
    """A user module type: a name, an argument signature and a body template."""

    def __init__(self, name, sig, body, family):
        self.name = name
        self.sig = sig            # list of (name, type, default or None)
        self.body = body          # body(ctx, x) -> None (calls ctx.ret)
        self.family = family
        self.defined = False


# --------------------------------------------------------------------------------------

class Gen:
    def __init__(self, seed):
        self.seed = seed
        self.rng = random.Random(seed)
        self.weights = {}         # key -> (dtype, shape, values)
        self.inputs = {}          # name -> (dtype, decl_dims_text, shape, values)
        self.input_order = []
        self.decl_o = []          # model body items (original program)
        self.fwd_o = []           # forward statements (original)
        self.fwd_t = []           # forward statements (twin)
        self.mod_defs = []        # user module definitions (text blocks)
        self.utypes = []
        self.vals = []
        self.nv = 0
        self.nt = 0
        self.names = set()
        self.sym = None
        self.Nval = 1
        self.sym_declared = False
        self.insts = {}           # model-level instance name -> Inst
        self.notes = []
        self.depth = 0            # rough count of ops on the longest chain
        self.flags = []
        self.ops_left = 0
        self.file_omit = set()    # weight keys left out of case.w (tied: the file holds the other)
        self.twin_omit = set()    # weight keys the twin does not read
        self.twin_params = set()  # weight keys that stay parameters in the twin (twin.w)
        self.in_dtype = {}        # input name -> storage dtype in the input files
        self.big = False

    # ---- random helpers
    def r(self):
        return self.rng.random()

    def ri(self, a, b):
        return a + int(self.r() * (b - a + 1))

    def pick(self, xs):
        return xs[int(self.r() * len(xs))]

    def chance(self, p):
        return self.r() < p

    def uni(self, a, b):
        return a + (b - a) * self.r()

    def wpick(self, items):
        tot = sum(w for w, _ in items)
        x = self.r() * tot
        for w, it in items:
            x -= w
            if x < 0:
                return it
        return items[-1][1]

    def shuffle(self, xs):
        for i in range(len(xs) - 1, 0, -1):
            j = int(self.r() * (i + 1))
            xs[i], xs[j] = xs[j], xs[i]

    def fresh(self, base):
        k = 1
        while '%s%d' % (base, k) in self.names:
            k += 1
        n = '%s%d' % (base, k)
        self.names.add(n)
        return n

    # ---- dims
    def dtext(self, d):
        if is_sym(d):
            return self.sym if d.c == 1 else '%s * %d' % (self.sym, d.c)
        return str(d)

    def dval(self, d):
        return d.c * self.Nval if is_sym(d) else d

    def numel(self, shape):
        return prod(self.dval(d) for d in shape)

    def ctext(self, n):
        """An int, sometimes written as a compile-time expression."""
        if n < 2 or not self.chance(0.2):
            return str(n)
        k = self.ri(0, 4)
        if k == 0:
            a = self.ri(1, n - 1)
            return '%d + %d' % (a, n - a)
        if k == 1 and n % 2 == 0:
            return '2 * %d' % (n // 2)
        if k == 2:
            return '%d / 2' % (2 * n + self.ri(0, 1))
        if k == 3:
            return 'max(%d, %d)' % (n, self.ri(0, n))
        return '(%d + 1) %% %d' % (n + self.ri(1, 3) * (n + 1) - 1, n + 1) if False else str(n)

    # ---- weights and inputs
    def init_values(self, n, init):
        kind = init[0]
        if kind == 'u':                     # ('u', a): uniform [-a, a]
            a = init[1]
            return [self.uni(-a, a) for _ in range(n)]
        if kind == 'r':                     # ('r', lo, hi)
            return [self.uni(init[1], init[2]) for _ in range(n)]
        if kind == 'mask':
            return [1.0 if self.chance(0.7) else 0.0 for _ in range(n)]
        raise ValueError(init)

    def add_weight(self, key, shape, init, dtype=None):
        """Registers a parameter (once); returns its twin input name."""
        tname = 'p_' + key.replace('.', '_')
        if key not in self.weights:
            shape = [int(d) for d in shape]
            vals = self.init_values(prod(shape), init)
            if dtype is None:
                dtype = self.wpick([(0.86, 'F32'), (0.09, 'F16'), (0.05, 'BF16')])
            self.weights[key] = (dtype, shape, vals)
        return tname

    def new_param(self, shape, init, base='w'):
        """A model-level raw parameter: `param NAME: f32[...]`; returns P(name, twin)."""
        name = self.fresh(base)
        key = name
        frm = ''
        if self.chance(0.08):
            key = 'ext.%s.data' % name
            frm = ' from "%s"' % key
        self.decl_o.append('param %s: f32[%s]%s;' % (name, ', '.join(str(d) for d in shape), frm))
        t = self.add_weight(key, shape, init)
        self.last_key = key
        return P(name, t)

    def new_input(self, shape, dtype='f32', values=None, init=('u', 1.0), base='x'):
        name = self.fresh(base)
        dims = []
        for d in shape:
            if is_sym(d) and not self.sym_declared:
                self.sym_declared = True
                if d.c == 1 and self.chance(0.3):
                    dims.append('%s <= %d' % (self.sym, self.Nval + self.ri(0, 6)))
                    continue
            dims.append(self.dtext(d))
        conc = [self.dval(d) for d in shape]
        if values is None:
            values = self.init_values(prod(conc), init)
        self.inputs[name] = (dtype, dims, conc, values)
        self.input_order.append(name)
        if dtype == 'f32' and self.chance(0.1):
            self.in_dtype[name] = self.pick(['F16', 'BF16', 'F64'])
        elif dtype == 'i64' and self.chance(0.2):
            self.in_dtype[name] = 'I32'
        v = Val(name, shape, dtype)
        if dtype == 'f32':
            a = max(abs(x) for x in values) if values else 1.0
            v.sc = a / math.sqrt(3) if init[0] == 'u' else a * 0.6
            v.bnd = a
        return v

    def tlet(self, expr):
        """A temporary in the twin only."""
        self.nt += 1
        name = 't%d' % self.nt
        self.fwd_t.append('let %s = %s;' % (name, expr))
        return name

    # ---- statements
    def emit(self, expr, shape, dtype='f32', sc=0.6, bnd=None, sign=None, lo=0.0, live=True):
        self.nv += 1
        name = 'v%d' % self.nv
        self.fwd_o.append('let %s = %s;' % (name, expr.o))
        self.fwd_t.append('let %s = %s;' % (name, expr.t))
        v = Val(name, shape, dtype, sc, bnd, sign, lo)
        if live:
            self.vals.append(v)
        return v

    def stmt(self, s):
        s = s if isinstance(s, P) else P(s)
        self.fwd_o.append(s.o)
        self.fwd_t.append(s.t)

    # ---- built-in modules
    def ctor_text(self, kind, args, kw):
        parts = list(args) + ['%s = %s' % (k, v) for k, v in kw]
        return '%s(%s)' % (kind, ', '.join(parts))

    def make_inst(self, kind, prefix, args, kw, wexpr=None, bexpr=None):
        """Concrete instance (registers its weights). wexpr/bexpr: twin texts of
        parameter expressions replacing the stored weight/bias."""
        inst = Inst(kind, prefix, {'args': args, 'kw': kw})
        W = lambda slot, shape, init: self.add_weight(prefix + slot, shape, init)
        if kind == 'Linear':
            din, dout = args[0], args[1]
            inst.wt['weight'] = wexpr or W('weight', [dout, din], ('u', math.sqrt(3.0 / din)))
            b = kw.get('bias', True)
            if bexpr:
                inst.wt['bias'] = bexpr
            elif b is True:
                inst.wt['bias'] = W('bias', [dout], ('u', 0.2))
        elif kind == 'Conv2d':
            cin, cout, k = args[0], args[1], args[2]
            kh, kw_ = (k, k) if isinstance(k, int) else k
            g = kw.get('groups', 1)
            fan = cin // g * kh * kw_
            inst.wt['weight'] = wexpr or W('weight', [cout, cin // g, kh, kw_], ('u', math.sqrt(3.0 / fan)))
            b = kw.get('bias', True)
            if bexpr:
                inst.wt['bias'] = bexpr
            elif b is True:
                inst.wt['bias'] = W('bias', [cout], ('u', 0.2))
        elif kind == 'BatchNorm2d':
            c = args[0]
            inst.wt['weight'] = W('weight', [c], ('r', 0.6, 1.4))
            inst.wt['bias'] = W('bias', [c], ('u', 0.3))
            inst.wt['running_mean'] = W('running_mean', [c], ('u', 0.3))
            inst.wt['running_var'] = W('running_var', [c], ('r', 0.5, 1.5))
            if prefix + 'num_batches_tracked' not in self.weights and self.chance(0.5):
                self.weights[prefix + 'num_batches_tracked'] = ('I64', [], [self.ri(0, 1000)])
        elif kind in ('LayerNorm', 'RMSNorm'):
            d = args[0]
            inst.wt['weight'] = W('weight', [d], ('r', 0.6, 1.4))
            if kind == 'LayerNorm':
                inst.wt['bias'] = W('bias', [d], ('u', 0.3))
        elif kind == 'Embedding':
            inst.wt['weight'] = W('weight', [args[0], args[1]], ('u', 1.0))
        elif kind == 'MultiheadAttention':
            d = args[0]
            inst.wt['in_proj_weight'] = W('in_proj_weight', [3 * d, d], ('u', math.sqrt(3.0 / d)))
            inst.wt['out_proj.weight'] = W('out_proj.weight', [d, d], ('u', math.sqrt(3.0 / d)))
            if kw.get('bias', True):
                inst.wt['in_proj_bias'] = W('in_proj_bias', [3 * d], ('u', 0.2))
                inst.wt['out_proj.bias'] = W('out_proj.bias', [d], ('u', 0.2))
        return inst

    def expand(self, inst, xs, kw, shapes):
        """The twin text of calling instance `inst` on twin texts xs."""
        k = inst.kind
        a, c = inst.cfg.get('args', []), inst.cfg.get('kw', {})
        x = xs[0] if xs else None
        if inst.user:
            ut, values = inst.user
            ctx = TCtx(self, 'inline', ut, values, inst.prefix, shapes[0])
            ut.body(ctx, x)
            return ctx.result
        if k == 'Linear':
            b = inst.wt.get('bias')
            return 'linear(%s, %s%s)' % (x, inst.wt['weight'], ', b = %s' % b if b else '')
        if k == 'Conv2d':
            parts = [x, inst.wt['weight']]
            if inst.wt.get('bias'):
                parts.append('b = ' + inst.wt['bias'])
            for key in ('stride', 'pad', 'dilation', 'groups'):
                if key in c:
                    parts.append('%s = %s' % (key, self.pair_text(c[key])))
            return 'conv2d(%s)' % ', '.join(parts)
        if k == 'BatchNorm2d':
            eps = ', eps = %s' % num(c['eps']) if 'eps' in c else ''
            return 'batch_norm(%s, %s, %s, w = %s, b = %s%s)' % (
                x, inst.wt['running_mean'], inst.wt['running_var'], inst.wt['weight'], inst.wt['bias'], eps)
        if k == 'LayerNorm':
            eps = ', eps = %s' % num(c['eps']) if 'eps' in c else ''
            return 'layer_norm(%s, %s, %s%s)' % (x, inst.wt['weight'], inst.wt['bias'], eps)
        if k == 'RMSNorm':
            eps = ', eps = %s' % num(c['eps']) if 'eps' in c else ''
            return 'rms_norm(%s, %s%s)' % (x, inst.wt['weight'], eps)
        if k == 'Embedding':
            return 'embedding(%s, %s)' % (x, inst.wt['weight'])
        if k == 'MultiheadAttention':
            d, H = a[0], a[1]
            hd = d // H
            W, bi = inst.wt['in_proj_weight'], inst.wt.get('in_proj_bias')
            q, kk, vv = xs
            qs, ks = shapes[0], shapes[1]
            B = self.dtext(qs[0])
            proj = []
            for i, (src, sh) in enumerate(((q, qs), (kk, ks), (vv, ks))):
                lin = 'linear(%s, %s[%d:%d]%s)' % (src, W, i * d, (i + 1) * d,
                                                 ', b = %s[%d:%d]' % (bi, i * d, (i + 1) * d) if bi else '')
                t = self.tlet('permute(reshape(%s, [%s, %d, %d, %d]), [0, 2, 1, 3])' % (lin, B, sh[1], H, hd))
                proj.append(t)
            cz = kw.get('causal')
            att = self.tlet('attention(%s, %s, %s%s)' % (proj[0], proj[1], proj[2],
                                                        ', causal = %s' % cz if cz else ''))
            o = self.tlet('reshape(permute(%s, [0, 2, 1, 3]), [%s, %d, %d])' % (att, B, qs[1], d))
            bo = inst.wt.get('out_proj.bias')
            return 'linear(%s, %s%s)' % (o, inst.wt['out_proj.weight'], ', b = %s' % bo if bo else '')
        if k == 'Sequential':
            cur = x
            sh = shapes[0]
            for ch in inst.children:
                cur = self.tlet(self.expand(ch, [cur], {}, [sh]))
                sh = None  # only user modules read it, and they come first or keep shape
            return cur
        if k in ('Identity', 'Dropout'):
            return x
        if k == 'Flatten':
            return 'flatten(%s%s)' % (x, ', start = %d' % c['start'] if 'start' in c else '')
        if k in ('MaxPool2d', 'AvgPool2d'):
            fn = 'max_pool2d' if k == 'MaxPool2d' else 'avg_pool2d'
            parts = [x, self.pair_text(a[0])]
            for key in ('stride', 'pad'):
                if key in c:
                    parts.append('%s = %s' % (key, self.pair_text(c[key])))
            return '%s(%s)' % (fn, ', '.join(parts))
        for fn, m in ACT_MODULES.items():
            if m == k + '()':
                return '%s(%s)' % (fn, x)
        raise ValueError(k)

    def pair_text(self, v):
        if isinstance(v, (list, tuple)):
            return '[%d, %d]' % tuple(v)
        return str(v)

    def model_inst(self, kind, args, kw, base, wexpr=None, bexpr=None, kw_text=None):
        """A model-level built-in instance: declares it, returns (name, Inst)."""
        name = self.fresh(base)
        prefix = name + '.'
        frm = ''
        if self.chance(0.07):
            prefix = 'outer.%s.' % name
            frm = ' from "outer.%s"' % name
        inst = self.make_inst(kind, prefix, args, kw, wexpr.t if wexpr else None, bexpr.t if bexpr else None)
        kws = [(k, num(v) if isinstance(v, (bool, int, float)) else self.pair_text(v)) for k, v in kw.items()]
        if wexpr:
            kws.append(('weight', wexpr.o))
        if bexpr:
            kws = [(k, v) for k, v in kws if k != 'bias'] + [('bias', bexpr.o)]
        self.decl_o.append('%s = %s%s;' % (name, self.ctor_text(
            kind, [self.pair_text(x) for x in args], kws), frm))
        self.insts[name] = inst
        return name, inst

    def tie(self, n, inst):
        """`tie n.weight = old.weight;` with an earlier Linear of the same shape; the file
        holds the old key, the new key, or both (equal), as spec section 6 allows."""
        olds = [m for m, i in self.insts.items() if m != n and i.kind == 'Linear' and i.prefix == m + '.'
                and i.cfg['args'] == inst.cfg['args'] and (m + '.weight') in self.weights
                and m + '.weight' not in self.file_omit]
        if not olds:
            return
        old = self.pick(olds)
        ko, kn = old + '.weight', n + '.weight'
        how = self.pick(['old', 'new', 'both'])
        if how == 'old':
            del self.weights[kn]
        else:
            self.weights[kn] = self.weights[ko]
            self.twin_omit.add(kn)
            if how == 'new':
                self.file_omit.add(ko)
        inst.wt['weight'] = self.insts[old].wt['weight']
        self.decl_o.append('tie %s = %s;' % ((kn, ko) if self.chance(0.5) else (ko, kn)))

    def call_inst(self, name, xs, kw=None, shapes=None):
        """P text of calling model-level instance `name`."""
        kw = kw or {}
        inst = self.insts[name]
        o = '%s(%s)' % (name, ', '.join([x.o for x in xs] + ['%s = %s' % (k, v) for k, v in kw.items()]))
        t = self.expand(inst, [x.t for x in xs], kw, shapes or [x.shape for x in xs])
        return P(o, t)

    # ---- value selection
    def pick_val(self, pred, recent=0.55):
        cands = [v for v in self.vals if pred(v)]
        if not cands:
            return None
        if self.chance(recent) and pred(self.vals[-1]):
            return self.vals[-1]
        return self.pick(cands)

    def f32(self, v):
        return v.dtype == 'f32'

    def small(self, shape, limit=3000):
        return self.numel(shape) <= limit * (8 if self.big else 1)

    def L(self, n):
        """A size limit, larger in big cases."""
        return n * 3 if self.big else n

    # ---- renormalization
    def tame(self, v):
        """Keeps a float value's scale O(1)."""
        if v.dtype != 'f32' or v.sep:
            return v
        if v.sc > 2.5 or v.bnd > 12:
            if self.chance(0.3) and v.bnd < 60:
                return self.emit(F('tanh({})', v), v.shape, sc=0.7, bnd=1.0)
            c = float('%.2g' % (1.0 / max(v.sc, v.bnd / 4)))
            return self.emit(F('{} * %s' % num(c), v), v.shape, sc=v.sc * c, bnd=v.bnd * c, sign=v.sign, lo=v.lo * c)
        if v.sc < 0.05 and v.bnd < 0.5 and v.sign != 'pos':
            c = float('%.2g' % min(50.0, 0.5 / max(v.sc, 1e-3)))
            return self.emit(F('{} * %s' % num(c), v), v.shape, sc=v.sc * c, bnd=v.bnd * c, sign=v.sign)
        return v

    # ==================================================================================
    # the model
    def start(self):
        # big cases (1 in 5) reach the blocked GEMM/conv/attention paths: sizes of tens
        self.big = self.chance(0.2)
        if self.chance(0.4):
            self.sym = self.pick(['N', 'B', 'N', 'batch'])
            self.Nval = self.ri(1, 5 if self.big else 3)
        fam = self.wpick([(3, 'img'), (3, 'seq'), (3, 'feat')])
        self.family = fam
        bat = Sym(1) if self.sym else self.ri(1, 6 if self.big else 3)
        if fam == 'img':
            if self.big:
                shape = [bat, self.ri(3, 24), self.ri(8, 20), self.ri(8, 20)]
            else:
                shape = [bat, self.ri(1, 6), self.ri(3, 9), self.ri(3, 9)]
        elif fam == 'seq':
            if self.big:
                shape = [bat, self.ri(8, 40), self.pick([16, 32, 48, 64])]
            else:
                shape = [bat, self.ri(2, 7), self.pick([4, 6, 8, 12, 16])]
        else:
            shape = [bat, self.ri(20, 100) if self.big else self.ri(2, 20)]
        if not self.sym and self.chance(0.15):
            shape = shape[1:]
        self.vals.append(self.new_input(shape))
        if self.chance(0.3):
            sh2 = list(shape)
            self.vals.append(self.new_input(sh2))

    def op_table(self):
        return [
            (10, self.op_unary), (9, self.op_scalar), (10, self.op_binary),
            (4, self.op_matmul), (8, self.op_linear), (7, self.op_conv), (3, self.op_pool),
            (3, self.op_bn), (4, self.op_norm), (3, self.op_softmax), (4, self.op_reduce),
            (4, self.op_reshape), (2, self.op_flatten), (3, self.op_permute),
            (3, self.op_concat), (2, self.op_split), (4, self.op_index), (3, self.op_attention),
            (2, self.op_mha), (2, self.op_embedding), (2, self.op_cast), (2, self.op_argmax),
            (8, self.op_fusion), (6, self.op_user_block), (2, self.op_sequential),
            (2, self.op_loop), (1, self.op_fresh_input), (3, self.op_const),
        ]

    def build(self):
        self.start()
        nops = self.ri(3, 25)
        table = self.op_table()
        done, tries = 0, 0
        while done < nops and tries < 400:
            tries += 1
            op = self.wpick(table)
            before = self.nv
            try:
                res = op()
            except Skip:
                res = None
            if res is None:
                continue
            if isinstance(res, Val) and res.dtype == 'f32':
                self.tame(res)
            done += max(1, self.nv - before)
        self.nops = done
        self.finish()

    # ---- outputs
    def finish(self):
        outs = []
        last = self.vals[-1]
        outs.append(last)
        others = [v for v in self.vals if v is not last]
        self.shuffle(others)
        for v in others[:self.ri(0, 2)]:
            outs.append(v)
        if self.chance(0.05):
            outs.append(last)                 # the same value under two names
        self.outputs = []
        for i, v in enumerate(outs):
            oname = 'y%d' % (i + 1) if len(outs) > 1 else 'y'
            decl = 'output %s;' % oname
            if self.chance(0.25):
                decl = 'output %s: %s[%s];' % (oname, v.dtype, ', '.join(self.dtext(d) for d in v.shape))
            self.outputs.append((oname, decl, v))
            self.stmt('%s = %s;' % (oname, v.name))

    # ==================================================================================
    # ops. Each returns the new Val, or None when it does not apply.

    def op_const(self):
        """A value combined with a subgraph over parameters only (the fold pass evaluates
        it at compile time; the twin computes it at run time)."""
        v = self.pick_val(lambda u: self.f32(u) and u.rank >= 1)
        if v is None:
            return None
        sh = self.bshape(v.shape, False)
        if any(is_sym(d) for d in sh):
            return None
        k = self.ri(0, 5)
        if k == 0:
            e = F('tanh({}) * 0.5 + {}', self.new_param(sh, ('u', 1.0)), self.new_param(sh, ('u', 0.5)))
        elif k == 1:
            e = F('softmax({}, -1) * %d' % sh[-1], self.new_param(sh, ('u', 1.0)))
        elif k == 2:
            e = F('mean({}, dims = [0])', self.new_param([self.ri(1, 4)] + sh, ('u', 1.0)))
        elif k == 3 and len(sh) == 2:
            kk = self.ri(1, 6)
            e = F('matmul({}, {}) * %s' % num(float('%.3g' % (1 / math.sqrt(kk)))),
                  self.new_param([sh[0], kk], ('u', 1.0)), self.new_param([kk, sh[1]], ('u', 1.0)))
        elif k == 4 and len(sh) == 2:
            e = F('transpose({}, 0, 1)', self.new_param([sh[1], sh[0]], ('u', 1.0)))
        else:
            e = F('exp({} * 0.5) - {}', self.new_param(sh, ('u', 1.0)), self.new_param(sh, ('u', 1.0)))
        shape = self.bcast(v.shape, sh)
        if shape is None or not self.small(shape):
            return None
        if self.chance(0.5):
            return self.emit(F('{} + {}', v, e), shape, sc=v.sc + 0.6, bnd=v.bnd + 3)
        return self.emit(F('{} * ({})', v, e), shape, sc=v.sc * 0.8, bnd=v.bnd * 3)

    def op_fresh_input(self):
        v = self.vals[-1]
        if self.chance(0.5) and v.dtype == 'f32':
            nv = self.new_input(v.shape)
        else:
            shape = self.pick(self.vals).shape
            if not shape:
                return None
            nv = self.new_input(shape)
        self.vals.append(nv)
        return nv

    def op_unary(self):
        v = self.pick_val(self.f32)
        if v is None:
            return None
        fn = self.pick(ACTS + ['exp', 'log', 'sqrt', 'rsqrt', 'minus'])
        if fn == 'exp':
            if v.bnd <= 3:
                return self.emit(F('exp({})', v), v.shape, sc=1.3, bnd=math.exp(v.bnd), sign='pos', lo=math.exp(-v.bnd))
            if self.chance(0.5):
                return self.emit(F('exp(tanh({}))', v), v.shape, sc=1.2, bnd=2.72, sign='pos', lo=0.36)
            c = float('%.2g' % (2.0 / v.bnd))
            return self.emit(F('exp({} * %s)' % num(c), v), v.shape, sc=1.3, bnd=7.4, sign='pos', lo=0.13)
        if fn == 'log':
            if v.sign == 'pos' and v.lo >= 0.05:
                return self.emit(F('log({})', v), v.shape, sc=1.0, bnd=max(abs(math.log(v.lo)), math.log(max(v.bnd, 1.0))))
            if self.chance(0.5):
                return self.emit(F('log(abs({}) + 0.5)', v), v.shape, sc=0.5, bnd=max(0.7, math.log(v.bnd + 0.5)))
            return self.emit(F('log({} * {} + 0.25)', v, v), v.shape, sc=1.0, bnd=max(1.4, 2 * math.log(v.bnd + 0.5)))
        if fn == 'sqrt':
            if v.sign == 'pos' and v.lo >= 0.05:
                return self.emit(F('sqrt({})', v), v.shape, sc=math.sqrt(v.sc), bnd=math.sqrt(v.bnd), sign='pos', lo=math.sqrt(v.lo))
            return self.emit(F('sqrt(abs({}) + 0.1)', v), v.shape, sc=math.sqrt(v.sc + 0.1), bnd=math.sqrt(v.bnd + 0.1), sign='pos', lo=0.31)
        if fn == 'rsqrt':
            if v.sign == 'pos' and v.lo >= 0.1:
                return self.emit(F('rsqrt({})', v), v.shape, sc=1.0 / math.sqrt(v.sc), bnd=1 / math.sqrt(v.lo), sign='pos', lo=1 / math.sqrt(v.bnd))
            return self.emit(F('rsqrt({} * {} + 0.5)', v, v), v.shape, sc=1.0, bnd=1.42, sign='pos', lo=1 / math.sqrt(v.bnd ** 2 + 0.5))
        if fn == 'minus':
            return self.emit(F('-{}', v), v.shape, sc=v.sc, bnd=v.bnd)
        sc, bnd, sign, lo = act_stats(fn, v.sc, v.bnd)
        return self.emit(F('%s({})' % fn, v), v.shape, sc=sc, bnd=bnd, sign=sign, lo=lo)

    def scalar(self, lo=0.1, hi=3.0):
        if self.chance(0.3):
            return self.ri(1, 3)
        return float('%.3g' % self.uni(lo, hi))

    def op_scalar(self):
        v = self.pick_val(self.f32)
        if v is None:
            return None
        c = self.scalar()
        cs = num(c)
        k = self.ri(0, 6)
        if k == 0:
            return self.emit(F('{} * %s' % cs, v), v.shape, sc=v.sc * c, bnd=v.bnd * c, sign=v.sign, lo=v.lo * c)
        if k == 1:
            return self.emit(F('%s * {}' % cs, v), v.shape, sc=v.sc * c, bnd=v.bnd * c, sign=v.sign, lo=v.lo * c)
        if k == 2:
            return self.emit(F('{} + %s' % cs, v), v.shape, sc=v.sc + c / 2, bnd=v.bnd + c)
        if k == 3:
            return self.emit(F('%s - {}' % cs, v), v.shape, sc=v.sc + c / 2, bnd=v.bnd + c)
        if k == 4:
            return self.emit(F('{} / %s' % cs, v), v.shape, sc=v.sc / c, bnd=v.bnd / c, sign=v.sign, lo=v.lo / c)
        if k == 5:
            return self.emit(F('%s / (abs({}) + 1)' % cs, v), v.shape, sc=c * 0.7, bnd=c, sign='pos', lo=c / (v.bnd + 1))
        return self.emit(F('{} * %s - {} * %s' % (cs, num(self.scalar())), v, v), v.shape, sc=v.sc * 2, bnd=v.bnd * 4)

    # broadcasting
    def bcast(self, a, b):
        """Broadcast shape of a and b, or None."""
        out = []
        for i in range(1, max(len(a), len(b)) + 1):
            x = a[-i] if i <= len(a) else 1
            y = b[-i] if i <= len(b) else 1
            if x == y:
                out.append(x)
            elif x == 1:
                out.append(y)
            elif y == 1:
                out.append(x)
            else:
                return None
        return out[::-1]

    def bshape(self, shape, allow_sym):
        """A random shape broadcastable against `shape`."""
        sh = []
        for d in shape:
            if is_sym(d) and not allow_sym:
                sh.append(1)
            elif self.chance(0.35):
                sh.append(1)
            else:
                sh.append(d)
        drop = self.ri(0, len(sh)) if self.chance(0.4) else 0
        sh = sh[drop:]
        if self.chance(0.1) and len(shape) < 4:
            sh = [self.ri(2, 3)] + ([1] * (len(shape) - len(sh))) + sh
        return sh or [1]

    def op_binary(self):
        v = self.pick_val(self.f32)
        if v is None:
            return None
        op = self.wpick([(3, '+'), (2, '-'), (3, '*'), (1, '/')])
        src = self.wpick([(4, 'live'), (3, 'param'), (1, 'input')])
        w = None
        if src == 'live':
            cands = [u for u in self.vals if u.dtype == 'f32' and self.bcast(v.shape, u.shape) is not None
                     and self.small(self.bcast(v.shape, u.shape))]
            if cands:
                w = self.pick(cands)
                wt = P(w.name)
                wsc, wbnd, wsign, wlo = w.sc, w.bnd, w.sign, w.lo
        if w is None:
            sh = self.bshape(v.shape, src == 'input')
            if not self.small(self.bcast(v.shape, sh) or [10 ** 6]):
                return None
            init = ('r', 0.5, 1.5) if op == '/' else ('u', 1.0)
            if src == 'input' or not all_int(sh):
                u = self.new_input(sh, init=init)
                wt = P(u.name)
            else:
                wt = self.new_param(sh, init)
            wsc, wbnd = (1.0, 1.5) if op == '/' else (0.58, 1.0)
            wsign, wlo = ('pos', 0.5) if op == '/' else (None, 0.0)
        shape = self.bcast(v.shape, w.shape if w is not None else sh)
        if op == '/':
            if wsign == 'pos' and wlo >= 0.3:
                den = wt
                dlo, dsc = wlo, wsc
            else:
                den = F('(abs({}) + 0.5)', wt)
                dlo, dsc = 0.5, wsc + 0.5
            return self.emit(F('{} / {}', v, den), shape, sc=v.sc / max(dsc, 0.5), bnd=v.bnd / dlo)
        if self.chance(0.5):
            expr = F('{} %s {}' % op, v, wt)
        else:
            expr = F('{} %s {}' % op, wt, v)
        if op == '*':
            sign = 'nonneg' if v.sign and wsign else None
            return self.emit(expr, shape, sc=v.sc * wsc, bnd=v.bnd * wbnd, sign=sign)
        return self.emit(expr, shape, sc=math.sqrt(v.sc ** 2 + wsc ** 2), bnd=v.bnd + wbnd)

    def op_matmul(self):
        v = self.pick_val(lambda u: self.f32(u) and u.rank >= 1 and not is_sym(u.shape[-1]))
        if v is None:
            return None
        K = v.shape[-1]
        k = self.ri(0, 5)
        a = math.sqrt(3.0 / K)
        if k == 0 or (v.rank == 1 and k != 4):
            P_ = self.ri(2, 12)
            sh = v.shape[:-1] + [P_]
            if not self.small(sh):
                return None
            w = self.new_param([K, P_], ('u', a)) if self.chance(0.8) else self.new_input([K, P_], init=('u', a))
            return self.emit(F('matmul({}, {})', v, w), sh, sc=v.sc, bnd=3 * v.sc)
        if k == 1 and v.rank >= 2:
            if v.rank >= 3 and not is_sym(v.shape[-3]) and v.shape[-3] > 1:
                G = v.shape[-3]
            else:
                G = self.ri(2, 3)
            P_ = self.ri(2, 8)
            bs = self.bcast(v.shape[:-2], [G])
            if bs is None:
                return None
            sh = bs + [v.shape[-2], P_]
            if not self.small(sh):
                return None
            w = self.new_param([G, K, P_], ('u', a))
            return self.emit(F('matmul({}, {})', v, w), sh, sc=v.sc, bnd=3 * v.sc)
        if k == 2 and v.rank >= 2:
            cands = [u for u in self.vals if u.dtype == 'f32' and u.rank >= 2 and u.shape[-1] == K
                     and self.bcast(v.shape[:-2], u.shape[:-2]) is not None]
            u = self.pick(cands)
            sh = self.bcast(v.shape[:-2], u.shape[:-2]) + [v.shape[-2], u.shape[-2]]
            if not self.small(sh):
                return None
            c = float('%.3g' % (1.0 / (math.sqrt(K) * max(v.sc * u.sc, 0.05) ** 0.5)))
            return self.emit(F('matmul({}, transpose({}, -1, -2)) * %s' % num(c), v, u), sh,
                             sc=v.sc * u.sc * math.sqrt(K) * c, bnd=3 * v.sc * u.sc * math.sqrt(K) * c)
        if k == 3:
            w = self.new_param([K], ('u', a))
            return self.emit(F('matmul({}, {})', v, w), v.shape[:-1], sc=v.sc, bnd=3 * v.sc)
        if k == 4 and v.rank >= 2 and not is_sym(v.shape[-2]):
            M = v.shape[-2]
            P_ = self.ri(1, 8)
            sh = v.shape[:-2] + [P_, K]
            if not self.small(sh):
                return None
            w = self.new_param([P_, M], ('u', math.sqrt(3.0 / M)))
            return self.emit(F('matmul({}, {})', w, v), sh, sc=v.sc, bnd=3 * v.sc)
        if k == 5 and v.rank >= 2 and not is_sym(v.shape[-2]):
            M = v.shape[-2]
            w = self.new_param([M], ('u', math.sqrt(3.0 / M)))
            return self.emit(F('matmul({}, {})', w, v), v.shape[:-2] + [K], sc=v.sc, bnd=3 * v.sc)
        return None

    # ---- parameter expressions for a [dout, din] weight: P(orig, twin)
    def weight_expr(self, dout, din, allow_hyper=True):
        a = math.sqrt(3.0 / din)
        k = self.wpick([(3, 'affine'), (2, 'kron'), (2, 'lowrank'), (1, 'phnn'), (1, 'mask'),
                        (1, 'hashed'), (1 if allow_hyper and dout * din <= 256 else 0, 'hyper')])
        if k == 'hashed':
            pool = self.new_param([self.ri(1, max(1, dout * din // 2))], ('u', a), base='pool')
            self.twin_params.add(self.last_key)   # hashed wants a parameter pool
            seed = self.pick([0, 1, 12345, 2654435761, 4294967295, self.ri(0, 1 << 31)])
            return F('hashed({}, [%d, %d], %d)' % (dout, din, seed), pool)
        if k == 'affine':
            w1 = self.new_param([dout, din], ('u', a))
            w2 = self.new_param([dout, din], ('u', a))
            return F('{} * 0.5 + {} * 0.75', w1, w2)
        if k == 'mask':
            w1 = self.new_param([dout, din], ('u', a * 1.2))
            m = self.new_param([dout, din], ('mask',), base='m')
            return F('{} * {}', w1, m)
        if k in ('kron', 'phnn'):
            a1, b1 = self.pick([(d, dout // d) for d in divisors(dout)])
            a2, b2 = self.pick([(d, din // d) for d in divisors(din)])
            s = 3.0 / math.sqrt(din)
            if k == 'kron':
                A = self.new_param([a1, a2], ('u', 1.0), base='A')
                S = self.new_param([b1, b2], ('u', s), base='S')
                return F('kron({}, {})', A, S)
            A = self.new_param([2, a1, a2], ('u', 1.0), base='A')
            S = self.new_param([2, b1, b2], ('u', s / math.sqrt(2)), base='S')
            return F('kron({}[0], {}[0]) + kron({}[1], {}[1])', A, S, A, S)
        if k == 'lowrank':
            r = self.ri(1, 4)
            s = math.sqrt(3.0 / math.sqrt(din * r))
            u = self.new_param([dout, r], ('u', s), base='u')
            v = self.new_param([din, r], ('u', s), base='lv')
            return F('lowrank({}, {})', u, v)
        # a hypernetwork: a Sequential evaluated on a parameter embedding
        e = self.ri(2, 6)
        h = self.ri(4, 8)
        emb = self.new_param([e], ('u', 1.0), base='emb')
        name = self.fresh('hyp')
        seq = Inst('Sequential', name + '.', {})
        c1 = self.make_inst('Linear', name + '.0.', [e, h], {})
        act = self.pick(['Tanh', 'ReLU', 'Sigmoid'])
        c2 = Inst(act, '', {})
        c3 = self.make_inst('Linear', name + '.2.', [h, dout * din], {})
        seq.children = [c1, c2, c3]
        self.decl_o.append('%s = Sequential(Linear(%d, %d), %s(), Linear(%d, %d));' % (name, e, h, act, h, dout * din))
        self.insts[name] = seq
        t = self.expand(seq, [emb.t], {}, [[e]])
        s = float('%.3g' % (a * 1.5))
        return P('reshape(%s(%s), [%d, %d]) * %s' % (name, emb.o, dout, din, num(s)),
                 'reshape(%s, [%d, %d]) * %s' % (t, dout, din, num(s)))

    def op_linear(self, v=None, dout=None, act=None):
        if v is None:
            v = self.pick_val(lambda u: self.f32(u) and u.rank >= 1 and not is_sym(u.shape[-1])
                              and u.shape[-1] <= self.L(64))
        if v is None:
            return None
        din = v.shape[-1]
        if dout is None:
            dout = self.ri(1, 80) if self.big else self.ri(1, 16)
        sh = v.shape[:-1] + [dout]
        if not self.small(sh):
            return None
        form = self.wpick([(4, 'fn'), (4, 'module'), (1, 'reuse')])
        expr = None
        if form == 'reuse':
            cands = [n for n, i in self.insts.items() if i.kind == 'Linear' and i.cfg['args'][0] == din
                     and (dout is None or i.cfg['args'][1] == dout)]
            if cands:
                n = self.pick(cands)
                dout = self.insts[n].cfg['args'][1]
                sh = v.shape[:-1] + [dout]
                expr = self.call_inst(n, [v])
            else:
                form = 'module'
        if form == 'fn':
            wk = self.wpick([(5, 'param'), (2, 'input'), (3, 'expr')])
            if wk == 'param':
                w = self.new_param([dout, din], ('u', math.sqrt(3.0 / din)))
            elif wk == 'input':
                w = P(self.new_input([dout, din], init=('u', math.sqrt(3.0 / din))).name)
            else:
                w = self.weight_expr(dout, din)
            bk = self.wpick([(3, 'none'), (4, 'param'), (1, 'input'), (1, 'expr')])
            if bk == 'none':
                expr = F('linear({}, {})', v, w)
            else:
                if bk == 'param':
                    b = self.new_param([dout], ('u', 0.2), base='b')
                elif bk == 'input':
                    b = P(self.new_input([dout], init=('u', 0.2)).name)
                else:
                    b0 = self.new_param([dout], ('u', 0.2), base='b')
                    b = F('({} * 2 - 0.1)', b0)
                expr = F('linear({}, {}, b = {})', v, w, b) if self.chance(0.7) else F('linear({}, {}, {})', v, w, b)
        elif form == 'module':
            kw = {}
            bexpr = wexpr = None
            if self.chance(0.3):
                kw['bias'] = False
            elif self.chance(0.1):
                b0 = self.new_param([dout], ('u', 0.2), base='b')
                bexpr = F('{} * 2 - 0.1', b0)
            if self.chance(0.25):
                wexpr = self.weight_expr(dout, din)
            n, inst = self.model_inst('Linear', [din, dout], kw, 'fc', wexpr, bexpr)
            if wexpr is None and inst.prefix == n + '.' and self.chance(0.2):
                self.tie(n, inst)
            expr = self.call_inst(n, [v])
        if act:
            expr = F('%s({})' % act, expr)
        return self.emit(expr, sh, sc=v.sc + 0.1, bnd=3 * (v.sc + 0.1))

    def conv_cfg(self, C, H, W, same=False):
        """Random conv2d configuration with output >= 1 (same: keeps C, H, W)."""
        for _ in range(20):
            gs = divisors(C)
            g = self.wpick([(4, 1), (2, C), (2, self.pick(gs))])
            if same:
                cout = C
                if C % g:
                    g = 1
            elif g == 1:
                cout = self.ri(1, 40) if self.big else self.ri(1, 10)
            else:
                cout = g * self.ri(1, 3 if g <= 4 else 1)
            if same:
                k = self.pick([1, 3, 3, 5]) if H >= 3 and W >= 3 else 1
                kh = kw = k
                s = [1, 1]
                d = [1, 1] if k == 1 or self.chance(0.7) else [2, 2]
                p = [d[0] * (k - 1) // 2, d[1] * (k - 1) // 2]
                if k == 5 and (H < 5 or W < 5):
                    continue
            else:
                if self.chance(0.25):
                    kh, kw = self.ri(1, 3), self.ri(1, 3)
                else:
                    kh = kw = self.pick([1, 2, 3, 3, 5])
                s = [self.pick([1, 1, 2])] * 2 if self.chance(0.8) else [self.ri(1, 2), self.ri(1, 2)]
                d = [1, 1] if self.chance(0.75) else [self.ri(1, 2), self.ri(1, 2)]
                p = [self.ri(0, d[0] * (kh - 1) // 2 + (1 if self.chance(0.2) else 0)),
                     self.ri(0, d[1] * (kw - 1) // 2 + (1 if self.chance(0.2) else 0))]
            Ho = (H + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1
            Wo = (W + 2 * p[1] - d[1] * (kw - 1) - 1) // s[1] + 1
            if Ho < 1 or Wo < 1:
                continue
            return dict(g=g, cout=cout, k=[kh, kw], s=s, p=p, d=d, Ho=Ho, Wo=Wo)
        return None

    def pairish(self, v):
        """An [a, b] pair written as one int when both are equal (mostly)."""
        if v[0] == v[1] and self.chance(0.85):
            return v[0]
        return list(v)

    def conv_expr(self, v, cfg, bias=None, module=None):
        """P expression for conv2d of v with cfg."""
        C = v.shape[-3]
        g, cout = cfg['g'], cfg['cout']
        kh, kw = cfg['k']
        kk = self.pairish(cfg['k'])
        opts = [('stride', self.pairish(cfg['s']), 1), ('pad', self.pairish(cfg['p']), 0),
                ('dilation', self.pairish(cfg['d']), 1), ('groups', g, 1)]
        kwd = {}
        for name, val, dflt in opts:
            if val != dflt or self.chance(0.15):
                kwd[name] = val
        fan = C // g * kh * kw
        a = math.sqrt(3.0 / fan)
        if bias is None:
            bias = self.chance(0.6)
        if module is None:
            module = self.chance(0.5)
        if module:
            cands = [n for n, i in self.insts.items() if i.kind == 'Conv2d' and i.cfg['args'][:3] == [C, cout, kk]
                     and i.cfg['kw'] == dict(kwd, **({} if bias else {'bias': False}))]
            if cands and self.chance(0.5):
                return self.call_inst(self.pick(cands), [v])
            mkw = dict(kwd)
            if not bias:
                mkw['bias'] = False
            wexpr = None
            if self.chance(0.2):
                shp = [cout, C // g, kh, kw]
                w1 = self.new_param(shp, ('u', a * 1.2))
                if self.chance(0.5):
                    m = self.new_param(shp, ('mask',), base='m')
                    wexpr = F('{} * {}', w1, m)
                else:
                    w2 = self.new_param(shp, ('u', a))
                    wexpr = F('{} * 0.5 + {} * 0.5', w1, w2)
            n, inst = self.model_inst('Conv2d', [C, cout, kk], mkw, 'conv', wexpr)
            return self.call_inst(n, [v])
        wk = self.wpick([(6, 'param'), (2, 'input'), (1, 'expr')])
        shp = [cout, C // g, kh, kw]
        if wk == 'param':
            w = self.new_param(shp, ('u', a))
        elif wk == 'input':
            w = P(self.new_input(shp, init=('u', a)).name)
        else:
            w1 = self.new_param(shp, ('u', a))
            w2 = self.new_param(shp, ('u', a))
            w = F('({} * 0.6 + {} * 0.6)', w1, w2)
        args = [w]
        if bias:
            b = self.new_param([cout], ('u', 0.2), base='b') if self.chance(0.8) else P(self.new_input([cout], init=('u', 0.2)).name)
            args.append(F('b = {}', b))
        for name, val in kwd.items():
            args.append('%s = %s' % (name, self.pair_text(val)))
        return F('conv2d({}' + ', {}' * len(args) + ')', v, *args)

    def is_img(self, u, rank=(4,)):
        return (self.f32(u) and u.rank in rank and all_int(u.shape[-3:]) and u.shape[-3] <= self.L(16)
                and u.shape[-1] >= 1 and self.small(u.shape, 4000))

    def op_conv(self):
        v = self.pick_val(lambda u: self.is_img(u, (3, 4) if self.chance(0.15) else (4,)))
        if v is None:
            return None
        C, H, W = v.shape[-3:]
        cfg = self.conv_cfg(C, H, W)
        if cfg is None:
            return None
        sh = v.shape[:-3] + [cfg['cout'], cfg['Ho'], cfg['Wo']]
        if not self.small(sh, 4000):
            return None
        return self.emit(self.conv_expr(v, cfg), sh, sc=v.sc + 0.1)

    def op_pool(self):
        v = self.pick_val(lambda u: self.is_img(u, (3, 4)))
        if v is None:
            return None
        H, W = v.shape[-2:]
        for _ in range(10):
            k = [self.ri(1, 3), self.ri(1, 3)] if self.chance(0.3) else [self.ri(1, 3)] * 2
            s = None if self.chance(0.4) else ([self.ri(1, 3)] * 2 if self.chance(0.7) else [self.ri(1, 2), self.ri(1, 3)])
            p = [0, 0] if self.chance(0.5) else [self.ri(0, k[0] // 2), self.ri(0, k[1] // 2)]
            ss = s or k
            Ho = (H + 2 * p[0] - k[0]) // ss[0] + 1
            Wo = (W + 2 * p[1] - k[1]) // ss[1] + 1
            if Ho >= 1 and Wo >= 1:
                break
        else:
            return None
        fn = self.pick(['max', 'avg'])
        sh = v.shape[:-2] + [Ho, Wo]
        kw = {}
        if s is not None:
            kw['stride'] = self.pairish(s)
        if p != [0, 0] or self.chance(0.1):
            kw['pad'] = self.pairish(p)
        if self.chance(0.4):
            kind = 'MaxPool2d' if fn == 'max' else 'AvgPool2d'
            n, _ = self.model_inst(kind, [self.pairish(k)], kw, 'pool')
            expr = self.call_inst(n, [v])
        else:
            args = [self.pair_text(self.pairish(k))] + ['%s = %s' % (a, self.pair_text(b)) for a, b in kw.items()]
            expr = F('%s_pool2d({}, %s)' % (fn, ', '.join(args)), v)
        return self.emit(expr, sh, sc=v.sc, bnd=v.bnd, sign=v.sign, lo=v.lo if fn == 'max' else 0)

    def bn_params(self, C, as_input=False):
        mk = (lambda sh, init, base: P(self.new_input(sh, init=init, base=base).name)) if as_input else \
             (lambda sh, init, base: self.new_param(sh, init, base))
        m = mk([C], ('u', 0.3), 'mean')
        var = mk([C], ('r', 0.5, 1.5), 'var')
        w = mk([C], ('r', 0.6, 1.4), 'g') if self.chance(0.8) else None
        b = mk([C], ('u', 0.3), 'beta') if self.chance(0.8) else None
        return m, var, w, b

    def bn_expr(self, v, C):
        if v.rank == 4 and self.chance(0.5):
            kw = {}
            if self.chance(0.2):
                kw['eps'] = self.pick([1e-3, 1e-4])
            n, _ = self.model_inst('BatchNorm2d', [C], kw, 'bn')
            return self.call_inst(n, [v])
        m, var, w, b = self.bn_params(C, self.chance(0.15))
        args = [m, var]
        fmt = 'batch_norm({}, {}, {}'
        if w is not None:
            fmt += ', w = {}'
            args.append(w)
        if b is not None:
            fmt += ', b = {}'
            args.append(b)
        if self.chance(0.2):
            fmt += ', eps = %s' % num(self.pick([1e-3, 1e-4, 0.01]))
        return F(fmt + ')', v, *args)

    def op_bn(self):
        v = self.pick_val(lambda u: self.f32(u) and u.rank in (2, 3, 4) and not is_sym(u.shape[1])
                          and u.shape[1] <= 32)
        if v is None:
            return None
        return self.emit(self.bn_expr(v, v.shape[1]), v.shape, sc=v.sc * 1.2 + 0.3)

    def op_norm(self):
        v = self.pick_val(lambda u: self.f32(u) and u.rank >= 1 and not is_sym(u.shape[-1])
                          and u.shape[-1] >= 4 and u.rowvar and u.sc >= 0.1)
        if v is None:
            return None
        D = v.shape[-1]
        kind = self.wpick([(3, 'ln'), (2, 'rms')])
        eps = self.pick([None, None, None, 1e-3, 1e-4])
        es = ', eps = %s' % num(eps) if eps else ''
        if self.chance(0.4):
            kw = {'eps': eps} if eps else {}
            n, _ = self.model_inst('LayerNorm' if kind == 'ln' else 'RMSNorm', [D], kw, kind)
            expr = self.call_inst(n, [v])
        elif kind == 'ln':
            k = self.ri(0, 3)
            if k == 0:
                expr = F('layer_norm({}%s)' % es, v)
            else:
                w = self.new_param([D], ('r', 0.6, 1.4), 'g') if self.chance(0.8) else P(self.new_input([D], init=('r', 0.6, 1.4)).name)
                if k == 1:
                    expr = F('layer_norm({}, {}%s)' % es, v, w)
                else:
                    b = self.new_param([D], ('u', 0.3), 'beta')
                    expr = F('layer_norm({}, {}, {}%s)' % es, v, w, b) if k == 2 else F('layer_norm({}, w = {}, b = {}%s)' % es, v, w, b)
        else:
            if self.chance(0.3):
                expr = F('rms_norm({}%s)' % es, v)
            else:
                w = self.new_param([D], ('r', 0.6, 1.4), 'g')
                expr = F('rms_norm({}, {}%s)' % es, v, w)
        return self.emit(expr, v.shape, sc=1.0, bnd=math.sqrt(D) * 1.4)

    def rdim(self, rank, d):
        """Dimension d written positive or negative."""
        return str(d - rank) if self.chance(0.3) else str(d)

    def op_softmax(self):
        v = self.pick_val(lambda u: self.f32(u) and u.rank >= 1)
        if v is None:
            return None
        d = self.ri(0, v.rank - 1)
        ds = self.rdim(v.rank, d)
        n = self.dval(v.shape[d])
        if self.chance(0.6):
            form = F('softmax({}, %s)' % ds, v) if self.chance(0.5) else F('softmax({}, dim = %s)' % ds, v)
            r = self.emit(form, v.shape, sc=1.0 / max(n, 1) ** 0.7, bnd=1.0, sign='nonneg')
            return r
        form = F('log_softmax({}, %s)' % ds, v) if self.chance(0.5) else F('log_softmax({}, dim = %s)' % ds, v)
        return self.emit(form, v.shape, sc=math.log(n + 1) + v.sc, bnd=math.log(n + 1) + 2 * v.bnd)

    def op_reduce(self):
        v = self.pick_val(lambda u: self.f32(u) and u.rank >= 1)
        if v is None:
            return None
        fn = self.pick(['sum', 'mean', 'max', 'min', 'mean'])
        if v.rank == 4 and not is_sym(v.shape[2]) and self.chance(0.3):
            dims = [2, 3]
        else:
            nd = self.ri(1, min(2, v.rank))
            dims = list(range(v.rank))
            self.shuffle(dims)
            dims = dims[:nd]
        keep = self.chance(0.4)
        alldims = self.chance(0.06)
        if alldims:
            dims = list(range(v.rank))
        cnt = prod(self.dval(v.shape[d]) for d in dims)
        if keep:
            sh = [1 if i in dims else d for i, d in enumerate(v.shape)]
        else:
            sh = [d for i, d in enumerate(v.shape) if i not in dims]
        dtexts = [self.rdim(v.rank, d) for d in dims]
        if alldims and not keep and self.chance(0.5):
            args = ''
        else:
            args = ', dims = [%s]' % ', '.join(dtexts)
            if keep:
                args += ', keepdim = true'
            elif self.chance(0.15):
                args += ', keepdim = false'
        sc, bnd, sign = v.sc, v.bnd, v.sign
        if fn == 'sum':
            f = cnt if v.sign else math.sqrt(cnt)
            sc, bnd = v.sc * f, v.bnd * f
        elif fn == 'mean':
            sign = v.sign
        r = self.emit(F('%s({}%s)' % (fn, args), v), sh, sc=sc, bnd=bnd, sign=sign if fn != 'sum' else v.sign)
        r.rowvar = False
        return r

    def factor(self, n, parts):
        """n as a product of `parts` random factors."""
        out = []
        for _ in range(parts - 1):
            d = self.pick(divisors(n))
            out.append(d)
            n //= d
        out.append(n)
        self.shuffle(out)
        return out

    def op_reshape(self):
        v = self.pick_val(lambda u: u.rank >= 1 and self.f32(u))
        if v is None:
            return None
        syms = [d for d in v.shape if is_sym(d)]
        if len(syms) > 1:
            return None
        Pn = prod(d for d in v.shape if not is_sym(d)) * (syms[0].c if syms else 1)
        r = self.ri(1, 4)
        if syms:
            c = self.pick(divisors(Pn)) if self.chance(0.4) else 1
            rest = self.factor(Pn // c, r - 1) if r > 1 else []
            if r == 1:
                c = Pn
            pos = self.ri(0, len(rest))
            sh = rest[:pos] + [Sym(c)] + rest[pos:]
        else:
            sh = self.factor(Pn, r)
        if not sh:
            return None
        texts = [self.dtext(d) if is_sym(d) else self.ctext(d) for d in sh]
        cand = [i for i, d in enumerate(sh) if not is_sym(d)]
        if cand and self.chance(0.35):
            texts[self.pick(cand)] = '-1'
        elif syms and self.chance(0.05):
            texts[[i for i, d in enumerate(sh) if is_sym(d)][0]] = '-1'
        r_ = self.emit(F('reshape({}, [%s])' % ', '.join(texts), v), sh, sc=v.sc, bnd=v.bnd, sign=v.sign, lo=v.lo)
        r_.rowvar = v.rowvar and sh[-1] == v.shape[-1]
        return r_

    def op_flatten(self):
        v = self.pick_val(lambda u: u.rank >= 2 and self.f32(u))
        if v is None:
            return None
        start = self.ri(0, v.rank - 2)
        merged = v.shape[start:]
        if sum(1 for d in merged if is_sym(d)) > 1:
            return None
        c = prod(d.c if is_sym(d) else d for d in merged)
        nd = Sym(c) if any(is_sym(d) for d in merged) else c
        sh = v.shape[:start] + [nd]
        if self.chance(0.3):
            kw = {'start': start} if start != 1 else {}
            n, _ = self.model_inst('Flatten', [], kw, 'flat')
            expr = self.call_inst(n, [v])
        else:
            st = '' if start == 1 and self.chance(0.5) else ', start = %s' % self.rdim(v.rank, start)
            expr = F('flatten({}%s)' % st, v)
        r = self.emit(expr, sh, sc=v.sc, bnd=v.bnd, sign=v.sign, lo=v.lo)
        r.rowvar = v.rowvar
        return r

    def op_permute(self):
        v = self.pick_val(lambda u: u.rank >= 2)
        if v is None:
            return None
        if self.chance(0.4):
            a, b = self.ri(0, v.rank - 1), self.ri(0, v.rank - 1)
            if a == b:
                return None
            sh = list(v.shape)
            sh[a], sh[b] = sh[b], sh[a]
            expr = F('transpose({}, %s, %s)' % (self.rdim(v.rank, a), self.rdim(v.rank, b)), v)
        else:
            perm = list(range(v.rank))
            self.shuffle(perm)
            sh = [v.shape[p] for p in perm]
            expr = F('permute({}, [%s])' % ', '.join(str(p) for p in perm), v)
        r = self.emit(expr, sh, dtype=v.dtype, sc=v.sc, bnd=v.bnd, sign=v.sign, lo=v.lo)
        r.sep, r.idmax, r.disc = v.sep, v.idmax, v.disc
        r.rowvar = sh[-1] == v.shape[-1] and v.rowvar
        return r

    def op_concat(self):
        v = self.pick_val(lambda u: u.rank >= 1 and self.f32(u))
        if v is None:
            return None
        d = self.ri(0, v.rank - 1)
        parts = [v]
        n = self.ri(1, 2)
        for _ in range(n):
            cands = [u for u in self.vals if u.dtype == 'f32' and u.rank == v.rank and
                     all(u.shape[i] == v.shape[i] for i in range(v.rank) if i != d) and
                     (not is_sym(v.shape[d]) or is_sym(u.shape[d]))]
            if cands and self.chance(0.6):
                parts.append(self.pick(cands))
            elif is_sym(v.shape[d]):
                parts.append(v)
            else:
                sh = list(v.shape)
                sh[d] = self.ri(1, 4)
                if self.chance(0.5) and all_int(sh):
                    p = self.new_param(sh, ('u', 1.0))
                    u = Val(p.o, sh)
                    u.t = p.t
                    parts.append(u)
                else:
                    parts.append(self.new_input(sh))
        dims = [p.shape[d] for p in parts]
        if any(is_sym(x) for x in dims):
            if not all(is_sym(x) for x in dims):
                return None
            nd = Sym(sum(x.c for x in dims))
        else:
            nd = sum(dims)
        sh = list(v.shape)
        sh[d] = nd
        if not self.small(sh):
            return None
        ds = self.rdim(v.rank, d)
        form = 'concat([%s], %s)' if self.chance(0.4) else 'concat([%s], dim = %s)'
        if d == 0 and self.chance(0.2):
            form = 'concat([%s])%s'
            ds = ''
        expr = F(form % (', '.join(['{}'] * len(parts)), ds), *parts)
        return self.emit(expr, sh, sc=v.sc, bnd=max(v.bnd, 1.0))

    def op_split(self):
        v = self.pick_val(lambda u: u.rank >= 1 and self.f32(u) and
                          any(not is_sym(x) and x >= 2 for x in u.shape))
        if v is None:
            return None
        ds = [i for i, x in enumerate(v.shape) if not is_sym(x) and x >= 2]
        d = self.pick(ds)
        n = v.shape[d]
        if self.chance(0.3):
            ch = self.ri(1, n - 1)
            sizes = [ch] * (n // ch) + ([n % ch] if n % ch else [])
            if len(sizes) > 4:
                return None
            arg = str(ch)
        else:
            k = self.ri(2, min(3, n))
            pool = list(range(1, n))
            self.shuffle(pool)
            cuts = sorted(pool[:k - 1])
            sizes = [b - a for a, b in zip([0] + cuts, cuts + [n])]
            arg = '[%s]' % ', '.join(str(s) for s in sizes)
        names = []
        for s in sizes:
            self.nv += 1
            names.append('v%d' % self.nv)
        dtxt = '' if d == 0 and self.chance(0.3) else ', dim = %s' % self.rdim(v.rank, d)
        self.stmt('let (%s) = split(%s, %s%s);' % (', '.join(names), v.name, arg, dtxt))
        res = None
        for nm, s in zip(names, sizes):
            sh = list(v.shape)
            sh[d] = s
            u = Val(nm, sh, 'f32', v.sc, v.bnd, v.sign, v.lo)
            u.rowvar = v.rowvar and (d != v.rank - 1 or s >= 4)
            if self.chance(0.7) or res is None:
                self.vals.append(u)
                res = u
        return res

    def op_index(self):
        v = self.pick_val(lambda u: u.rank >= 1)
        if v is None:
            return None
        items, sh = [], []
        ndim = v.rank if self.chance(0.7) else self.ri(1, v.rank)
        kept_any = False
        for i in range(ndim):
            d = v.shape[i]
            if self.chance(0.12) and len(items) < 5:
                items.append('None')
                sh.append(1)
            if is_sym(d):
                items.append(':')
                sh.append(d)
                continue
            k = self.wpick([(3, ':'), (2, 'int'), (4, 'slice')])
            if k == ':' :
                items.append(':')
                sh.append(d)
            elif k == 'int' and (v.rank > 1 or not kept_any):
                j = self.ri(0, d - 1)
                items.append(str(j - d) if self.chance(0.3) else str(j))
            else:
                for _ in range(5):
                    a = self.ri(-d - 1, d) if self.chance(0.8) else None
                    b = self.ri(-d - 1, d + 2) if self.chance(0.7) else None
                    st = self.pick([None, None, 1, 2, 3])
                    n = len(range(*slice(a, b, st).indices(d)))
                    if n >= 1:
                        break
                else:
                    a, b, st, n = None, None, None, d
                t = ('' if a is None else str(a)) + ':' + ('' if b is None else str(b))
                if st is not None:
                    t += ':' + str(st)
                items.append(t)
                sh.append(n)
        sh += v.shape[ndim:]
        if self.chance(0.1):
            items.append('None')
            sh.append(1)
        if not items:
            return None
        r = self.emit(P('%s[%s]' % (v.name, ', '.join(items))), sh, dtype=v.dtype, sc=v.sc, bnd=v.bnd, sign=v.sign, lo=v.lo)
        r.sep, r.idmax, r.disc = v.sep, v.idmax, v.disc
        r.rowvar = v.rowvar and len(sh) > 0 and (sh[-1] == v.shape[-1] if v.shape else False)
        return r

    def op_attention(self):
        v = self.pick_val(lambda u: self.f32(u) and u.rank >= 2 and all_int(u.shape[-2:])
                          and u.shape[-1] <= self.L(32) and u.shape[-2] <= self.L(16))
        if v is None:
            return None
        T, D = v.shape[-2:]
        bat = v.shape[:-2]
        k = self.ri(0, 3)
        kw = ''
        if self.chance(0.5):
            kw += ', causal = true'
        elif self.chance(0.2):
            kw += ', causal = false'
        if self.chance(0.3):
            kw += ', scale = %s' % num(float('%.3g' % self.uni(0.1, 1.0)))
        if k == 0:
            expr = F('attention({}, {}, {}%s)' % kw, v, v, v)
            sh = list(v.shape)
        elif k == 1:
            wk = self.new_param([D, D], ('u', math.sqrt(3.0 / D)))
            Dv = self.ri(1, 8)
            wv = self.new_param([Dv, D], ('u', math.sqrt(3.0 / D)))
            expr = F('attention({}, linear({}, {}), linear({}, {})%s)' % kw, v, v, wk, v, wv)
            sh = bat + [T, Dv]
        elif k == 2:
            cands = [u for u in self.vals if u.dtype == 'f32' and u.rank == v.rank and u.shape[:-2] == bat
                     and u.shape[-1] == D and not is_sym(u.shape[-2]) and u.shape[-2] <= 16]
            Tk = None
            if cands and self.chance(0.6):
                kv = self.pick(cands)
                Tk = kv.shape[-2]
            else:
                Tk = self.ri(1, 8)
                kv = self.new_input(bat + [Tk, D])
            vv = kv if self.chance(0.5) else self.new_input(bat + [Tk, self.ri(1, 6)])
            expr = F('attention({}, {}, {}%s)' % kw, v, kv, vv)
            sh = bat + [T, vv.shape[-1]]
        else:
            if v.rank != 3:
                return None
            hs = [h for h in divisors(D) if h > 1 and h < D] or [1]
            H = self.pick(hs)
            hd = D // H
            B = self.dtext(v.shape[0])
            q = 'permute(reshape({}, [%s, %d, %d, %d]), [0, 2, 1, 3])' % (B, T, H, hd)
            a = self.emit(F(q, v), [v.shape[0], H, T, hd], sc=v.sc, live=False)
            at = self.emit(F('attention({}, {}, {}%s)' % kw, a, a, a), [v.shape[0], H, T, hd], sc=v.sc, live=False)
            expr = F('reshape(permute({}, [0, 2, 1, 3]), [%s, %d, %d])' % (B, T, D), at)
            sh = list(v.shape)
        if not self.small(sh):
            return None
        return self.emit(expr, sh, sc=v.sc, bnd=v.bnd)

    def op_mha(self):
        v = self.pick_val(lambda u: self.f32(u) and u.rank == 3 and all_int(u.shape[1:])
                          and u.shape[2] in (4, 6, 8, 12, 16, 32, 48, 64) and u.shape[1] <= self.L(12))
        if v is None:
            return None
        d = v.shape[2]
        cands = [n for n, i in self.insts.items() if i.kind == 'MultiheadAttention' and i.cfg['args'][0] == d]
        if cands and self.chance(0.4):
            n = self.pick(cands)
        else:
            H = self.pick([h for h in divisors(d) if h <= 4])
            kw = {'bias': False} if self.chance(0.25) else {}
            n, _ = self.model_inst('MultiheadAttention', [d, H], kw, 'mha')
        kvc = [u for u in self.vals if u.dtype == 'f32' and u.rank == 3 and u.shape[0] == v.shape[0]
               and u.shape[2] == d and not is_sym(u.shape[1])]
        kv = self.pick(kvc) if kvc and self.chance(0.3) else v
        kw = {}
        if self.chance(0.4):
            kw['causal'] = 'true'
        expr = self.call_inst(n, [v, kv, kv], kw, [v.shape, kv.shape, kv.shape])
        return self.emit(expr, v.shape, sc=0.5)

    def ids_input(self, shape, n):
        vals = [self.ri(0, n - 1) for _ in range(prod(self.dval(d) for d in shape))]
        u = self.new_input(shape, dtype='i64', values=vals, base='ids')
        u.idmax = n
        return u

    def op_embedding(self):
        intv = [u for u in self.vals if u.dtype in ('i64', 'i32') and u.idmax > 0 and self.numel(u.shape) <= 64]
        if intv and self.chance(0.5):
            ids = self.pick(intv)
        else:
            bat = Sym(1) if self.sym and self.chance(0.6) else self.ri(1, 3)
            shape = self.pick([[bat, self.ri(1, 6)], [bat], [self.ri(1, 6)]])
            ids = self.ids_input(shape, self.ri(2, 12))
        V = ids.idmax
        D = self.pick([4, 6, 8, 12, 16]) if self.chance(0.6) else self.ri(1, 10)
        tabs = [u for u in self.vals if u.dtype == 'f32' and u.rank == 2 and all_int(u.shape) and u.shape[0] >= V]
        k = self.ri(0, 2)
        if k == 0 and tabs:
            t = self.pick(tabs)
            D = t.shape[1]
            expr = F('embedding({}, {})', ids, t)
            sc = t.sc
        elif k == 1:
            n, _ = self.model_inst('Embedding', [V + self.ri(0, 3), D], {}, 'emb')
            expr = self.call_inst(n, [ids])
            sc = 0.58
        else:
            t = self.new_param([V + self.ri(0, 2), D], ('u', 1.0), 'table')
            expr = F('embedding({}, {})', ids, t)
            sc = 0.58
        return self.emit(expr, ids.shape + [D], sc=sc, bnd=1.0 if sc == 0.58 else None)

    def op_cast(self):
        k = self.ri(0, 3)
        if k == 0:
            intv = [u for u in self.vals if u.dtype in ('i64', 'i32')]
            ids = self.pick(intv) if intv else self.ids_input([self.ri(1, 4), self.ri(1, 5)], self.ri(2, 9))
            c = float('%.2g' % (1.0 / max(ids.idmax, 1)))
            return self.emit(F('cast({}, f32) * %s' % num(c), ids), ids.shape, sc=0.5, bnd=1.0, sign='nonneg')
        if k == 1:
            intv = [u for u in self.vals if u.dtype == 'i64']
            ids = self.pick(intv) if intv else self.ids_input([self.ri(1, 4), self.ri(1, 5)], self.ri(2, 9))
            u = self.emit(F('cast({}, i32)', ids), ids.shape, dtype='i32')
            u.idmax = ids.idmax
            return u
        if k == 2:
            # floats away from integers: k + 0.5 +- 0.3, truncated toward zero
            bat = Sym(1) if self.sym and self.chance(0.5) else self.ri(1, 3)
            shape = [bat, self.ri(1, 6)]
            vals = [self.ri(-3, 3) + self.pick([-1, 1]) * self.uni(0.2, 0.8) for _ in range(self.numel(shape))]
            x = self.new_input(shape, values=vals, base='xd')
            dt = self.pick(['i64', 'i32'])
            ci = self.emit(F('cast({}, %s)' % dt, x), shape, dtype=dt, live=False)
            return self.emit(F('cast({}, f32) * 0.25', ci), shape, sc=0.5, bnd=1.0)
        v = self.pick_val(self.f32)
        if v is None:
            return None
        return self.emit(F('cast({}, f32)', v), v.shape, sc=v.sc, bnd=v.bnd, sign=v.sign, lo=v.lo)

    def sep_input(self, shape):
        n = self.numel(shape)
        idx = list(range(n))
        self.shuffle(idx)
        vals = [-1.0 + 2.0 * (i + 0.5) / n for i in idx]
        u = self.new_input(shape, values=vals, base='xs')
        u.sep = 2.0 / n
        return u

    def op_argmax(self):
        sepv = [u for u in self.vals if u.sep > 0 and u.rank >= 1]
        if sepv and self.chance(0.5):
            x = self.pick(sepv)
        else:
            bat = Sym(1) if self.sym and self.chance(0.5) else self.ri(1, 3)
            shape = self.pick([[bat, self.ri(2, 9)], [bat, self.ri(2, 5), self.ri(2, 5)], [self.ri(2, 10)]])
            x = self.sep_input(shape)
            self.vals.append(x)
        # a monotone transform keeps the order
        tr = self.pick(['{}', '{} * 2.0 + 1', 'sigmoid({})', 'exp({})', 'tanh({})', 'softmax({}, -1)'])
        dims = [i for i, d in enumerate(x.shape) if not is_sym(d)]
        if tr.startswith('softmax'):
            dims = [x.rank - 1] if not is_sym(x.shape[-1]) else []
        if not dims:
            return None
        d = self.pick(dims)
        keep = self.chance(0.3)
        if self.chance(0.1) and tr != 'softmax({}, -1)':
            expr = F('argmax(%s)' % tr, x)
            sh = []
            idmax = self.numel(x.shape)
        else:
            expr = F('argmax(%s, %s%s)' % (tr, self.pick([str(d), 'dim = ' + self.rdim(x.rank, d)]),
                                           ', keepdim = true' if keep else ''), x)
            sh = [1 if i == d else s for i, s in enumerate(x.shape)] if keep else \
                [s for i, s in enumerate(x.shape) if i != d]
            idmax = x.shape[d]
        u = self.emit(expr, sh, dtype='i64')
        u.idmax = idmax
        return u

    # ---- fusion patterns: conv/linear -> act -> residual add -> act; BN after conv
    def op_fusion(self):
        k = self.ri(0, 2)
        if k == 0:
            v = self.pick_val(lambda u: self.is_img(u) and u.shape[-3] <= self.L(12))
            if v is None:
                k = 1
        if k == 0:
            C, H, W = v.shape[-3:]
            cfg = self.conv_cfg(C, H, W, same=True)
            if cfg is None:
                return None
            use_bn = self.chance(0.5)
            e = self.conv_expr(v, cfg, bias=None if not use_bn else self.chance(0.3))
            if use_bn:
                e = self.bn_wrap(e, C, v.rank)
            a1 = self.pick(ACTS[:9] + ['', ''])
            if a1:
                e = F('%s({})' % a1, e)
            if self.chance(0.25):
                e = F('{} * %s' % num(self.scalar(0.3, 1.0)), e)
            t = self.emit(e, v.shape, sc=v.sc)
            r = self.residual(t, v, [C, 1, 1])
            a2 = self.pick(ACTS[:9] + [''])
            if a2:
                r = F('%s({})' % a2, r)
            return self.emit(r, v.shape, sc=v.sc + 0.3)
        v = self.pick_val(lambda u: self.f32(u) and u.rank >= 1 and not is_sym(u.shape[-1])
                          and u.shape[-1] <= self.L(32))
        if v is None:
            return None
        D = v.shape[-1]
        if k == 1:
            a1 = self.pick(ACTS[:9] + [None])
            t = self.op_linear(v, dout=D, act=a1)
            if t is None:
                return None
            r = self.residual(t, v, [D])
            a2 = self.pick(ACTS[:9] + [''])
            if a2:
                r = F('%s({})' % a2, r)
            return self.emit(r, v.shape, sc=v.sc + 0.3)
        # linear + batch_norm on [N, C] (bnfold's linear case)
        if v.rank != 2:
            return None
        t = self.op_linear(v, dout=self.ri(2, 12))
        if t is None:
            return None
        self.vals.remove(t)
        e = self.bn_wrap(P(t.name), t.shape[1], 2)
        a = self.pick(ACTS[:9] + [''])
        if a:
            e = F('%s({})' % a, e)
        return self.emit(e, t.shape, sc=v.sc + 0.3)

    def residual(self, t, v, bshape):
        """t + (a residual): usually v (same shape as t); sometimes t itself, another
        same-shaped value, or a broadcast parameter (which must not fuse as a residual)."""
        k = self.wpick([(6, 'v'), (1, 'self'), (1, 'other'), (1, 'bcast')])
        res = v
        if k == 'self':
            res = t
        elif k == 'other':
            res = self.pick_val(lambda u: u.dtype == 'f32' and u.shape == v.shape, recent=0) or v
        elif k == 'bcast':
            res = self.new_param(bshape, ('u', 0.5), base='r')
        return F('{} + {}', t, res) if self.chance(0.6) else F('{} + {}', res, t)

    def bn_wrap(self, e, C, rank):
        if rank == 4 and self.chance(0.5):
            kw = {'eps': self.pick([1e-3, 1e-4])} if self.chance(0.2) else {}
            n, inst = self.model_inst('BatchNorm2d', [C], kw, 'bn')
            return P('%s(%s)' % (n, e.o), self.expand(inst, [e.t], {}, [None]))
        m, var, w, b = self.bn_params(C)
        fmt, args = 'batch_norm({}, {}, {}', [e, m, var]
        if w is not None:
            fmt += ', w = {}'
            args.append(w)
        if b is not None:
            fmt += ', b = {}'
            args.append(b)
        return F(fmt + ')', *args)

    # ---- Sequential
    def op_sequential(self):
        v = self.pick_val(lambda u: self.f32(u) and u.rank >= 1 and not is_sym(u.shape[-1]) and u.shape[-1] <= 32)
        if v is None:
            return None
        name = self.fresh('seq')
        seq = Inst('Sequential', name + '.', {})
        texts = []
        if self.is_img(v) and v.shape[-2] >= 2 and v.shape[-1] >= 2 and self.chance(0.7):
            C, H, W = v.shape[-3:]
            co = self.ri(2, 8)
            idx = 0
            ch = [self.make_inst('Conv2d', '%s.%d.' % (name, idx), [C, co, 3], {'pad': 1})]
            texts.append('Conv2d(%d, %d, 3, pad = 1)' % (C, co))
            idx += 1
            if self.chance(0.6):
                ch.append(self.make_inst('BatchNorm2d', '%s.%d.' % (name, idx), [co], {}))
                texts.append('BatchNorm2d(%d)' % co)
                idx += 1
            act = self.pick(list(ACT_MODULES.values()))
            ch.append(Inst(act[:-2], '', {}))
            texts.append(act)
            idx += 1
            sh = v.shape[:-3] + [co, H, W]
            if self.chance(0.5):
                ch.append(Inst('MaxPool2d', '', {'args': [2], 'kw': {}}))
                texts.append('MaxPool2d(2)')
                idx += 1
                sh = v.shape[:-3] + [co, H // 2, W // 2]
            if self.chance(0.5) and v.rank == 4:
                ch.append(Inst('Flatten', '', {'args': [], 'kw': {}}))
                texts.append('Flatten()')
                idx += 1
                f = sh[1] * sh[2] * sh[3]
                if f <= 64:
                    o = self.ri(2, 10)
                    ch.append(self.make_inst('Linear', '%s.%d.' % (name, idx), [f, o], {}))
                    texts.append('Linear(%d, %d)' % (f, o))
                    sh = [sh[0], o]
                else:
                    sh = [sh[0], f]
        else:
            D = v.shape[-1]
            h = self.ri(2, 16)
            o = self.ri(1, 12)
            ch = [self.make_inst('Linear', name + '.0.', [D, h], {})]
            texts.append('Linear(%d, %d)' % (D, h))
            act = self.pick(list(ACT_MODULES.values()) + ['Identity()'])
            ch.append(Inst(act[:-2], '', {}))
            texts.append(act)
            i = 2
            if self.chance(0.4):
                ch.append(Inst('Dropout', '', {}))
                texts.append('Dropout(0.1)')
                i += 1
            bias = self.chance(0.7)
            ch.append(self.make_inst('Linear', '%s.%d.' % (name, i), [h, o], {} if bias else {'bias': False}))
            texts.append('Linear(%d, %d%s)' % (h, o, '' if bias else ', bias = false'))
            sh = v.shape[:-1] + [o]
        seq.children = ch
        self.decl_o.append('%s = Sequential(%s);' % (name, ', '.join(texts)))
        self.insts[name] = seq
        return self.emit(self.call_inst(name, [v]), sh, sc=v.sc + 0.2)

    # ---- loops over indices at model level
    def op_loop(self):
        v = self.pick_val(lambda u: self.f32(u) and u.rank >= 2 and not is_sym(u.shape[0]) and 2 <= u.shape[0] <= 6)
        if v is None:
            v = self.pick_val(self.f32)
            if v is None:
                return None
            n = self.ri(2, 4)
            fn = self.pick(['tanh', 'sigmoid', 'silu', 'relu'])
            acc = self.emit(F('{} * 1', v), v.shape, sc=v.sc, bnd=v.bnd)
            self.stmt('for i in 0..%d {' % n)
            self.stmt('  %s = %s(%s) * 0.5 + %s * 0.5;' % (acc.name, fn, acc.name, acc.name))
            self.stmt('}')
            return acc
        n = v.shape[0]
        c = num(self.scalar(0.1, 0.9))
        acc = self.emit(F('{}[0]', v), v.shape[1:], sc=v.sc, bnd=v.bnd * n)
        self.stmt('for i in 1..%d {' % n)
        if self.chance(0.5):
            self.stmt('  let t = %s[i] * %s;' % (v.name, c))
            self.stmt('  %s = %s + t * i;' % (acc.name, acc.name))
        else:
            self.stmt('  %s = %s + %s[i] * %s;' % (acc.name, acc.name, v.name, c))
        self.stmt('}')
        acc.sc = v.sc * n
        return acc

    # ==================================================================================
    # user modules
    def utype(self, family):
        for ut in self.utypes:
            if ut.family == family and self.chance(0.6):
                return ut
        name = self.fresh({'resconv': 'ResConv', 'ffnres': 'FFNRes', 'attn': 'AttnBlock',
                           'gated': 'Gated', 'down': 'Down', 'ffn': 'FFN'}[family])
        ch = self.chance
        acts = ACTS[:9]
        if family == 'resconv':
            c = dict(a1=self.pick(acts), a2=self.pick(acts + ['']), a3=self.pick(acts + ['']),
                     bn=ch(0.6), dw=ch(0.5), b3=ch(0.5), gamma=ch(0.3))

            def body(ctx, x, c=c):
                C, e, k = ctx.arg('c'), ctx.arg('e'), ctx.arg('k')
                ctx.sub('conv1', 'Conv2d', [C, C * e, 1], {'bias': False})
                if c['bn']:
                    ctx.sub('bn1', 'BatchNorm2d', [C * e])
                kw = {'pad': k // 2}
                if c['dw']:
                    kw['groups'] = C * e
                ctx.sub('conv2', 'Conv2d', [C * e, C * e, k], kw)
                ctx.sub('conv3', 'Conv2d', [C * e, C, 1], {} if c['b3'] else {'bias': False})
                if c['gamma']:
                    gm = ctx.param('gamma', [C], ('r', 0.5, 1.5))
                h = ctx.call('conv1', [x])
                if c['bn']:
                    h = ctx.call('bn1', [h])
                h = ctx.let('%s(%s)' % (c['a1'], h))
                h2 = ctx.call('conv2', [h])
                h = ctx.let('%s(%s)' % (c['a2'], h2) if c['a2'] else h2)
                h = ctx.let(ctx.call('conv3', [h]))
                ctx.if_('act', lambda: ctx.assign(h, 'relu(%s)' % h))
                if c['gamma']:
                    ctx.assign(h, '%s * %s[None, :, None, None]' % (h, gm))
                r = '%s + %s * %s' % (x, h, ctx.T(ctx.arg('alpha')))
                ctx.ret('%s(%s)' % (c['a3'], r) if c['a3'] else r)
            sig = [('c', 'int', None), ('e', 'int', 2), ('k', 'int', 3), ('act', 'bool', True), ('alpha', 'real', 0.5)]
        elif family == 'ffn':
            c = dict(a=self.pick(acts), b2=ch(0.7))

            def body(ctx, x, c=c):
                d, hid = ctx.arg('d'), ctx.arg('hidden')
                ctx.sub('fc1', 'Linear', [d, hid])
                ctx.sub('fc2', 'Linear', [hid, d], {} if c['b2'] else {'bias': False})
                ctx.ret(ctx.call('fc2', ['%s(%s)' % (c['a'], ctx.call('fc1', [x]))]))
            sig = [('d', 'int', None), ('hidden', 'int', None)]
        elif family == 'ffnres':
            ffn = self.utype('ffn')
            c = dict(norm=self.pick(['LayerNorm', 'RMSNorm']), ffn=ffn)

            def body(ctx, x, c=c):
                d, e = ctx.arg('d'), ctx.arg('e')
                ctx.sub('norm', c['norm'], [d])
                ctx.usub('ffn', c['ffn'], {'d': d, 'hidden': d * e})
                h = ctx.let(x)
                ctx.if_('prenorm', lambda: ctx.assign(h, ctx.call('norm', [x])))
                ctx.ret('%s + %s * %s' % (x, ctx.call('ffn', [h]), ctx.T(ctx.arg('alpha'))))
            sig = [('d', 'int', None), ('e', 'int', 2), ('prenorm', 'bool', True), ('alpha', 'real', 0.5)]
        elif family == 'attn':
            c = dict(bias=ch(0.7))

            def body(ctx, x, c=c):
                d, H = ctx.arg('d'), ctx.arg('heads')
                ctx.sub('ln', 'LayerNorm', [d])
                ctx.sub('attn', 'MultiheadAttention', [d, H], {} if c['bias'] else {'bias': False})
                h = ctx.let(ctx.call('ln', [x]))
                kw = {'causal': 'causal'} if ctx.mode == 'def' else ({'causal': 'true'} if ctx.values['causal'] else {})
                ctx.ret('%s + %s' % (x, ctx.call('attn', [h, h, h], kw, [ctx.xshape] * 3)))
            sig = [('d', 'int', None), ('heads', 'int', None), ('causal', 'bool', False)]
        elif family == 'gated':
            c = dict(g=self.pick(['sigmoid', 'hardsigmoid', 'tanh']))

            def body(ctx, x, c=c):
                d = ctx.arg('d')
                w1 = ctx.param('w1', [d, d], ('u', math.sqrt(3.0 / ctx.values['d'])))
                w2 = ctx.param('w2', [d, d], ('u', math.sqrt(3.0 / ctx.values['d'])))
                ctx.ret('%s + linear(%s, %s) * %s(linear(%s, %s))' % (x, x, w1, c['g'], x, w2))
            sig = [('d', 'int', None)]
        else:  # down: conv(stride) + BN + act, changes the shape
            c = dict(a=self.pick(acts), bn=ch(0.8))

            def body(ctx, x, c=c):
                ci, co, s = ctx.arg('cin'), ctx.arg('cout'), ctx.arg('s')
                ctx.sub('conv', 'Conv2d', [ci, co, 3], {'stride': s, 'pad': 1, 'bias': not c['bn']})
                h = ctx.call('conv', [x])
                if c['bn']:
                    ctx.sub('bn', 'BatchNorm2d', [co])
                    h = ctx.call('bn', [h])
                ctx.ret('%s(%s)' % (c['a'], h))
            sig = [('cin', 'int', None), ('cout', 'int', None), ('s', 'int', 1)]
        ut = UType(name, sig, body, family)
        self.utypes.append(ut)
        return ut

    def define(self, ut, values, xshape):
        """Writes the module definition (once), using one instance's values for shapes."""
        if ut.defined:
            return
        ctx = TCtx(self, 'def', ut, values, '', xshape)
        ut.body(ctx, 'x')
        sig = []
        for n, t, dflt in ut.sig:
            s = '%s: %s' % (n, t)
            if dflt is not None and self.chance(0.7):
                s += ' = %s' % num(dflt)
            sig.append(s)
        # arguments without a default must always be passed; track which have defaults
        ut.has_default = {s.split(':')[0] for s in sig if '=' in s}
        text = ['module %s(%s) {' % (ut.name, ', '.join(sig))]
        for dl in ctx.decls:
            text.append('  ' + dl)
        text.append('')
        text.append('  forward(x) {')
        text += ['  ' + l for l in ctx.lines]
        text.append('  }')
        text.append('}')
        ut.defined = True
        self.mod_defs.append('\n'.join(text))

    def arg_text(self, ut, values, itexts=None):
        parts = []
        positional = True
        for n, t, dflt in ut.sig:
            v = values[n]
            txt = (itexts or {}).get(n, num(v))
            if n in ut.has_default and dflt is not None and v == dflt and (itexts is None or n not in itexts) and self.chance(0.5):
                positional = False
                continue
            if positional and self.chance(0.7):
                parts.append(txt)
            else:
                positional = False
                parts.append('%s = %s' % (n, txt))
        return ', '.join(parts)

    def op_user_block(self):
        fams = []
        img = self.pick_val(lambda u: self.is_img(u) and 1 <= u.shape[-3] <= self.L(8) and u.shape[-2] >= 3 and u.shape[-1] >= 3)
        if img is not None:
            fams += [(3, ('resconv', img)), (1, ('down', img))]
        seq = self.pick_val(lambda u: self.f32(u) and u.rank == 3 and all_int(u.shape[1:]) and u.shape[2] in (4, 6, 8, 12, 16, 32, 48, 64))
        if seq is not None:
            fams += [(2, ('attn', seq))]
        ft = self.pick_val(lambda u: self.f32(u) and u.rank >= 1 and not is_sym(u.shape[-1]) and 2 <= u.shape[-1] <= self.L(24) and u.rowvar)
        if ft is not None:
            fams += [(3, ('ffnres', ft)), (1, ('gated', ft))]
        if not fams:
            return None
        fam, v = self.wpick(fams)
        ut = self.utype(fam)
        n = self.ri(1, 3)
        # per-instance values; some depend on the list index i
        def vals_for(i):
            if fam == 'resconv':
                return {'c': v.shape[-3], 'e': self.vals_e, 'k': 1 + 2 * (i % 2) if self.kalt else self.vals_k,
                        'act': (i % 2 == 0) if self.actalt else self.vals_act, 'alpha': self.vals_alpha / (i + 1) if self.alphadiv else self.vals_alpha}
            if fam == 'ffnres':
                return {'d': v.shape[-1], 'e': self.vals_e, 'prenorm': self.vals_act, 'alpha': self.vals_alpha}
            if fam == 'attn':
                return {'d': v.shape[-1], 'heads': self.vals_h, 'causal': self.vals_act}
            if fam == 'gated':
                return {'d': v.shape[-1]}
            return {'cin': v.shape[-3], 'cout': self.vals_co, 's': self.vals_s}
        self.vals_e = self.ri(1, 2)
        self.vals_k = self.pick([1, 3, 3])
        self.vals_act = self.chance(0.5)
        self.vals_alpha = self.pick([0.5, 0.25, 1.0, 0.3])
        self.vals_h = self.pick([h for h in divisors(v.shape[-1]) if h <= 4])
        self.vals_co = self.ri(1, 8)
        self.vals_s = self.pick([1, 2])
        self.kalt = fam == 'resconv' and self.chance(0.3)
        self.actalt = fam == 'resconv' and self.chance(0.3)
        self.alphadiv = fam == 'resconv' and self.chance(0.3)
        itexts = {}
        if self.kalt:
            itexts['k'] = '1 + 2 * (i % 2)'
        if self.actalt:
            itexts['act'] = 'i % 2 == 0'
        if self.alphadiv:
            itexts['alpha'] = '%s / (i + 1)' % num(float(self.vals_alpha))
        self.define(ut, vals_for(0), v.shape)
        if fam == 'down':
            H, W = v.shape[-2:]
            s = self.vals_s
            sh = v.shape[:-3] + [self.vals_co, (H - 1) // s + 1, (W - 1) // s + 1]
            n = 1
        else:
            sh = list(v.shape)
        shared = fam != 'down' and self.chance(0.15)
        single = n == 1 or shared or fam == 'down'
        sc = v.sc + 0.5
        if single:
            name = self.fresh('blk')
            values = vals_for(0)
            self.decl_o.append('%s = %s(%s);' % (name, ut.name, self.arg_text(ut, values)))
            inst = Inst(ut.name, name + '.', {})
            inst.user = (ut, values)
            self.insts[name] = inst
            cur = self.emit(self.call_inst(name, [v]), sh, sc=sc)
            if shared:        # the same instance again: shared parameters
                cur = self.emit(self.call_inst(name, [cur]), sh, sc=sc + 0.5)
            return cur
        name = self.fresh('blocks')
        self.decl_o.append('%s = [%s(%s) for i in 0..%d];' % (name, ut.name, self.arg_text(ut, vals_for(0), itexts) if itexts else self.arg_text(ut, vals_for(0)), n))
        insts = []
        for i in range(n):
            inst = Inst(ut.name, '%s.%d.' % (name, i), {})
            inst.user = (ut, vals_for(i))
            insts.append(inst)
        acc = self.emit(F('{} * 1', v) if self.chance(0.3) else P(v.name), sh, sc=v.sc, bnd=v.bnd)
        style = self.ri(0, 2)
        if style == 0:
            self.fwd_o.append('for b in %s {' % name)
            self.fwd_o.append('  %s = b(%s);' % (acc.name, acc.name))
            self.fwd_o.append('}')
        elif style == 1:
            self.fwd_o.append('for i in 0..%d {' % n)
            self.fwd_o.append('  %s = %s[i](%s);' % (acc.name, name, acc.name))
            self.fwd_o.append('}')
        else:
            for i in range(n):
                self.fwd_o.append('%s = %s[%d](%s);' % (acc.name, name, i, acc.name))
        for inst in insts:
            r = self.expand(inst, [acc.name], {}, [sh])
            self.fwd_t.append('%s = %s;' % (acc.name, r))
        acc.sc = v.sc + 0.3 * n
        acc.bnd = 3 * acc.sc
        return acc

    # ==================================================================================
    def write(self, outdir):
        name = 'Diff%d' % self.seed
        hdr = ['# diff case, seed %d: generated by tests/diff/gen.py (%d ops)' % (self.seed, self.nops)]
        tol = None
        if self.nops > 18 or len(self.fwd_o) > 30:
            tol = (2e-4, 2e-4)
        if tol:
            hdr.append('# TOL: %g %g' % tol)
        if self.flags:
            hdr.append('# FLAGS: ' + ' '.join(self.flags))

        def model_text(twin):
            t = []
            t.append('model %s {' % name)
            for n in self.input_order:
                dt, dims, _, _ = self.inputs[n]
                t.append('  input %s: %s[%s];' % (n, dt, ', '.join(dims)))
            if twin:
                for key in sorted(self.weights):
                    dt, shape, _ = self.weights[key]
                    if key.endswith('num_batches_tracked') or key in self.twin_omit:
                        continue
                    t.append('  %s p_%s: f32[%s];' % ('param' if key in self.twin_params else 'input',
                                                      key.replace('.', '_'), ', '.join(str(d) for d in shape)))
            for oname, decl, v in self.outputs:
                t.append('  ' + decl)
            if twin and self.twin_params:
                t.append('  weights "twin.w.safetensors";')
            if not twin:
                t.append('  weights "case.w.safetensors";')
                t.append('')
                for d in self.decl_o:
                    t.append('  ' + d)
            t.append('')
            t.append('  forward {')
            for s in (self.fwd_t if twin else self.fwd_o):
                t.append('    ' + s)
            t.append('  }')
            t.append('}')
            return '\n'.join(t)

        case = '\n'.join(hdr) + '\n\n' + ''.join(m + '\n\n' for m in self.mod_defs) + model_text(False) + '\n'
        twin = '# twin of case.ndl (seed %d): parameters as inputs, modules expanded\n\n' % self.seed + model_text(True) + '\n'
        with open(os.path.join(outdir, 'case.ndl'), 'w') as f:
            f.write(case)
        with open(os.path.join(outdir, 'twin.ndl'), 'w') as f:
            f.write(twin)
        st_save(os.path.join(outdir, 'case.w.safetensors'),
                {k: w for k, w in self.weights.items() if k not in self.file_omit})
        ins = {}
        for n in self.input_order:
            dt, _, shape, vals = self.inputs[n]
            sdt = self.in_dtype.get(n) or {'f32': 'F32', 'i64': 'I64', 'i32': 'I32'}[dt]
            ins[n] = (sdt, shape, vals)
        st_save(os.path.join(outdir, 'case.in.safetensors'), ins)
        tw = dict(ins)
        twp = {}
        for key, (dt, shape, vals) in self.weights.items():
            if key.endswith('num_batches_tracked') or key in self.twin_omit:
                continue
            tn = 'p_' + key.replace('.', '_')
            assert tn not in tw and tn not in twp, tn
            (twp if key in self.twin_params else tw)[tn] = (dt, shape, vals)
        st_save(os.path.join(outdir, 'twin.in.safetensors'), tw)
        if twp:
            st_save(os.path.join(outdir, 'twin.w.safetensors'), twp)


class Skip(Exception):
    pass


def main(argv):
    if len(argv) != 3:
        sys.stderr.write('usage: gen.py SEED OUTDIR\n')
        return 2
    seed = int(argv[1])
    outdir = argv[2]
    os.makedirs(outdir, exist_ok=True)
    g = Gen(seed)
    if g.chance(0.12):
        g.flags.append('--threads 2')
    if g.chance(0.12):
        g.flags.append('--external-weights')
    g.build()
    g.write(outdir)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
