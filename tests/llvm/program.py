#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# program.py - reads the model program (backends/llvm/program.h) out of `ndlc --emit llvm`
# textual IR (the named metadata !ndlll.program: the constant itself may be folded away by
# O3), so that tests check what the executor runs.
#
#   program.py MODEL.ll
#
# Prints one line per fact, "name value...":
#   run OP...       the op kind numbers of run's layers, in order
#   init OP...      the op kind numbers of the layers create runs once, in order
#   packs N         create-time packs of init values (a run layer reads the packed form)
#   packed K...     per run layer, how operand 1 was packed (NDLLL_PACK_*)
# Standard library only (the python3 first on PATH has no numpy).
import re
import sys

# program.h's header words, in order (NDLLL_H_*)
HEADER = ["MAGIC", "NSYMS", "NSLOTS", "NLAYERS", "NINPUTS", "NOUTPUTS", "NWEIGHTS", "EXTERNAL", "DIMS",
          "ROWS", "NROWS", "LAYERS", "OUTPUTS", "BOUNDS", "WEIGHTS", "NDYN", "DYNMAX", "NINIT", "INIT",
          "NINIT_LAYERS", "INIT_LAYERS", "NPACKS", "PACKS"]
MAGIC = 0x4E444C4C31


def program_words(text):
    """The words of the named metadata !ndlll.program (emit.c writes it into --emit llvm)."""
    m = re.search(r'^!ndlll\.program = !\{!(\d+)\}', text, re.M)
    if not m:
        sys.exit("program.py: no !ndlll.program in the IR")
    node = re.search(r'^!%s = !\{([^}]*)\}' % m.group(1), text, re.M)
    if not node:
        sys.exit("program.py: no metadata node !%s" % m.group(1))
    return [int(w.split()[1]) for w in node.group(1).split(",")]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: program.py MODEL.ll")
    p = program_words(open(sys.argv[1]).read())
    h = dict(zip(HEADER, p))
    if h["MAGIC"] != MAGIC:
        sys.exit("program.py: bad magic %#x (program.h changed?)" % h["MAGIC"])

    def layer(table, k):
        at = p[p[table] + k]
        op, nt = p[at], p[at + 1]
        packed = p[at + 2 + nt + 3]
        return op, packed

    run = [layer(HEADER.index("LAYERS"), k) for k in range(h["NLAYERS"])]
    init = [layer(HEADER.index("INIT_LAYERS"), k) for k in range(h["NINIT_LAYERS"])]
    print("run", *[op for op, _ in run])
    print("init", *[op for op, _ in init])
    print("packs", h["NPACKS"])
    print("packed", *[k for _, k in run])


main()
