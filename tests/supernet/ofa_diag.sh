#!/bin/sh
# SPDX-License-Identifier: MIT
# ofa_diag.sh - a diagnostics case on the example supernet itself (examples/ofa_mbv3.ndl).
#
#   ofa_diag.sh DIAGRUN NDLC EXAMPLE.ndl CASE.expect
#
# CASE.expect holds `# args: OPTIONS` (the -D / --subnet options; files relative to the
# case's folder) and the expected diagnostics as diagrun's `expect-error: LINE:COL: MSG`
# lines (LINE:COL in EXAMPLE.ndl). Runs `NDLC EXAMPLE.ndl --diag-plain --emit ir -o OUT
# OPTIONS` in the case's folder through diagrun, which checks stderr, the exit status
# (1) and that no output is left behind.
set -u
[ $# -eq 4 ] || { echo "usage: ofa_diag.sh DIAGRUN NDLC EXAMPLE.ndl CASE.expect" >&2; exit 2; }
set -f
args=$(sed -n 's/^#[[:space:]]*args:[[:space:]]*//p' "$4" | head -n 1)
exec "$1" --dir "$(dirname "$4")" --expect-file "$4" -- "$2" "$3" --diag-plain --emit ir -o @OUT@ $args
