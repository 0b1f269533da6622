#!/bin/sh
# SPDX-License-Identifier: MIT
# run_diag.sh - checks the diagnostics of one bad NDL program against its inline
# expectations (Wren's `// expect:` style, style guide 2.9).
#
#   run_diag.sh NDLC CASE.ndl          run the case; exit 0 pass, 1 fail, 2 usage
#   run_diag.sh --show NDLC CASE.ndl   print the actual diagnostics in expectation form
#
# Annotations, anywhere in CASE.ndl after a '#':
#   # expect-error: LINE:COL: MESSAGE      a diagnostic located in the .ndl
#   # expect-warning: ... / expect-note: ...
#   # expect-error: FILE: MESSAGE          a diagnostic of another file ("w.safetensors:
#                                          error: ..."), FILE its base name; `ndlc` for
#                                          errors that belong to no file (usage errors)
#   # expect-exit: N                       the exit status (default 1)
#   # args: OPTIONS...                     extra command-line options (split on blanks)
# The case runs from its own directory as
#   NDLC CASE.ndl --diag-plain --emit ir -o TMP/out.ir OPTIONS...
# and every line ndlc writes to stderr must match the expectations exactly and in order
# (the file part of `file:line:col:` is ignored); anything else, stdout included, is a
# failure. A stale TMP/out.ir exists beforehand and must be gone afterwards, with no
# temporary file left beside it (spec section 9). Failures print a unified diff.
set -u
show=0
if [ $# -ge 1 ] && [ "$1" = --show ]; then show=1; shift; fi
if [ $# -ne 2 ]; then
    echo "usage: run_diag.sh [--show] NDLC CASE.ndl" >&2
    exit 2
fi
ndlc=$1
case_ndl=$2
case $ndlc in /*) ;; *) ndlc=$(pwd)/$ndlc ;; esac
if [ ! -f "$case_ndl" ]; then
    echo "run_diag.sh: $case_ndl: no such file" >&2
    exit 2
fi
dir=$(dirname "$case_ndl")
base=$(basename "$case_ndl")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/diag.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# Expected lines, in file order.
sed -n -E 's/^[^#]*#[[:space:]]*(expect-(error|warning|note): .*)$/\1/p' "$case_ndl" |
    sed 's/[[:space:]]*$//' >"$tmp/expected"
want_rc=$(sed -n 's/^[^#]*#[[:space:]]*expect-exit:[[:space:]]*\([0-9][0-9]*\).*$/\1/p' "$case_ndl" | head -n 1)
[ -n "$want_rc" ] || want_rc=1
args=$(sed -n 's/^[^#]*#[[:space:]]*args:[[:space:]]*//p' "$case_ndl" | head -n 1)

echo stale >"$tmp/out.ir"
set -f
# $args is deliberately unquoted: it is a list of options.
(cd "$dir" && exec "$ndlc" "$base" --diag-plain --emit ir -o "$tmp/out.ir" $args) \
    >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
set +f

# Actual lines in the same form as the expectations.
{
    sed -E -e 's/^[^:]+:([0-9]+):([0-9]+): (error|warning|note): /expect-\3: \1:\2: /;t' \
           -e 's#^([^:]*/)?([^/:]+): (error|warning|note): #expect-\3: \2: #;t' \
           -e 's/^/unexpected-stderr: /' "$tmp/stderr"
    sed 's/^/unexpected-stdout: /' "$tmp/stdout"
} | sed 's/[[:space:]]*$//' >"$tmp/actual"

if [ $show = 1 ]; then
    sed 's/^/# /' "$tmp/actual"
    echo "# expect-exit: $rc"
    exit 0
fi

fail=0
if ! cmp -s "$tmp/expected" "$tmp/actual"; then
    echo "FAIL: $case_ndl: diagnostics differ (- expected, + actual)"
    diff -u --label expected --label actual "$tmp/expected" "$tmp/actual"
    fail=1
fi
if [ "$rc" != "$want_rc" ]; then
    echo "FAIL: $case_ndl: exit status $rc, expected $want_rc"
    fail=1
fi
if [ "$rc" != 0 ] && [ -e "$tmp/out.ir" ]; then
    echo "FAIL: $case_ndl: the output file survived a failed compilation"
    fail=1
fi
leftover=$(cd "$tmp" && ls -A | grep -v -x -e expected -e actual -e stdout -e stderr -e out.ir)
if [ -n "$leftover" ]; then
    echo "FAIL: $case_ndl: files left beside the output: $leftover"
    fail=1
fi
if [ $fail = 1 ]; then
    echo "command: (cd $dir && $ndlc $base --diag-plain --emit ir -o OUT.ir $args)"
fi
exit $fail
