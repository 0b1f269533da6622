#!/bin/sh
# run_fuzz.sh FUZZER CORPUS SECONDS - a bounded libFuzzer run over a scratch copy of the
# committed seed corpus (the corpus itself is never modified by CI).
set -eu
fuzzer=$1 corpus=$2 seconds=$3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r "$corpus"/. "$scratch"/
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
     -artifact_prefix="$scratch/" "$scratch"
