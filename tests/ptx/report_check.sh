#!/bin/sh
# SPDX-License-Identifier: MIT
# report_check.sh - --report of --emit ptx holds the launch plan ("ptx_launch_plan"), and
# it names the same kernels, grids, blocks and buffer counts, in the same order, as the
# "// ndlc-plan kernel" lines that head the PTX (what the host runtime reads); a grid that
# depends on the model's symbols is the same expression in both.
#
#   report_check.sh NDLC CASE.ndl
set -u
ndlc=$1
case_ndl=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ptx_report.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
"$ndlc" "$case_ndl" --emit ptx --report "$tmp/r.json" -o "$tmp/net.ptx" || { echo "FAIL: ndlc exited with $?"; exit 1; }
sed -n 's|^// ndlc-plan kernel \([^ ]*\) \([^ ]*\) \([0-9]*\) [0-9]* \([0-9]*\) .*|\1 \2 \3 \4|p' "$tmp/net.ptx" > "$tmp/ptx.txt"
python3 -c '
import json, sys
plan = json.load(open(sys.argv[1]))["ptx_launch_plan"]
for k in plan["kernels"]:
    print(k["name"], k["grid"], k["block"], len(k["buffers"]))
' "$tmp/r.json" > "$tmp/report.txt" || { echo "FAIL: no ptx_launch_plan in the report"; exit 1; }
[ -s "$tmp/ptx.txt" ] || { echo "FAIL: no kernel lines in the PTX"; exit 1; }
cat "$tmp/report.txt"
diff "$tmp/ptx.txt" "$tmp/report.txt" || { echo "FAIL: the report and the PTX's plan differ"; exit 1; }
exit 0
