# SPDX-License-Identifier: MIT
"""make_bad.py - malformed and unsupported ONNX files for tests/onnx/bad (run_bad.sh).

Each case writes <name>.onnx and <name>.err, the exact diagnostics `ndlc import` must print
(run from this folder, so the file is named without a directory). Needs python3-onnx only:

    /usr/bin/python3 tests/onnx/bad/make_bad.py
"""
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="make_bad")


def vi(name, shape, et=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, et, shape)


def write(name, data, err):
    if not isinstance(data, bytes):
        data = data.SerializeToString()
    with open(os.path.join(HERE, name + ".onnx"), "wb") as f:
        f.write(data)
    with open(os.path.join(HERE, name + ".err"), "w") as f:
        f.write(err.format(f=name + ".onnx") + "\n")


def relu_model():
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [vi("x", [2, 3])], [vi("y", [2, 3])])


def main():
    write("unsupported_op",
          model([helper.make_node("Relu", ["x"], ["h"], name="first"),
                 helper.make_node("Hardmax", ["h"], ["y"], name="my_hardmax")],
                [vi("x", [2, 3])], [vi("y", [2, 3])]),
          "{f}: error: node 'my_hardmax' (Hardmax): operator 'Hardmax' is not supported")
    full = relu_model().SerializeToString()
    write("truncated", full[:len(full) - 9],
          "{f}: error: not a valid ONNX model (the protobuf is truncated or malformed)")
    write("not_onnx", b"this is not a protobuf\n\xff\xff\xff",
          "{f}: error: not a valid ONNX model (the protobuf is truncated or malformed)")
    write("dangling",
          model([helper.make_node("Relu", ["x"], ["h"], name="first"),
                 helper.make_node("Add", ["h", "nowhere"], ["y"], name="add")],
                [vi("x", [2, 3])], [vi("y", [2, 3])]),
          "{f}: error: node 'add' (Add): input 'nowhere' is not defined by a graph input, an initializer "
          "or an earlier node")
    m = relu_model()
    m.opset_import[0].version = 9
    write("old_opset", m,
          "{f}: error: opset 9 is not supported (ndlc imports opsets 13 to 17; re-export with "
          "torch.onnx.export(..., opset_version=17))")
    write("attr_type",
          model([helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=1.5)], [vi("x", [2, 3])], [vi("y", [2, 3])]),
          "{f}: error: node 'sm' (Softmax): attribute 'axis' must be an int")
    write("erf_alone",
          model([helper.make_node("Erf", ["x"], ["y"], name="erf")], [vi("x", [2, 3])], [vi("y", [2, 3])]),
          "{f}: error: node 'erf' (Erf): Erf is supported as part of the exact GELU, x * 0.5 * (1 + erf(x / "
          "sqrt(2))), which becomes gelu(x)")
    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 3], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    del w.float_data[5]
    write("short_initializer",
          model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], [vi("x", [2, 3])], [vi("y", [2, 3])], [w]),
          "{f}: error: initializer 'w': holds 5 elements of data but its shape [2, 3] needs 6")
    write("no_producer",
          model([helper.make_node("Relu", ["x"], ["h"], name="relu")], [vi("x", [2, 3])], [vi("y", [2, 3])]),
          "{f}: error: graph output 'y' is not computed by any node")
    b = numpy_helper.from_array(np.ones([4], np.float32), "b")
    write("broadcast",
          model([helper.make_node("Add", ["x", "b"], ["y"], name="add")], [vi("x", [2, 3])], [vi("y", [2, 3])], [b]),
          "{f}: error: node 'add' (Add): cannot broadcast [2, 3] with [4]")
    write("unnamed_node",
          model([helper.make_node("Relu", ["x"], ["h"]), helper.make_node("TopK", ["h", "h"], ["y", "i"])],
                [vi("x", [2, 3])], [vi("y", [2, 3])]),
          "{f}: error: node #1 (TopK): operator 'TopK' is not supported")

    # split sizes whose sum overflows int64 (found by fuzz/onnx: the sum was undefined behaviour)
    sp = numpy_helper.from_array(np.array([4213238871992827936, 6875999706613370170], np.int64), "sp")
    write("split_overflow",
          model([helper.make_node("Split", ["x", "sp"], ["a", "b"], name="split", axis=1)],
                [vi("x", [2, 6])], [vi("a", [2, 3]), vi("b", [2, 3])], [sp]),
          "{f}: error: node 'split' (Split): split sizes [4213238871992827936, 6875999706613370170] do not "
          "add up to dimension 6")


if __name__ == "__main__":
    main()
