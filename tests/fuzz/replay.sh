#!/bin/sh
# Replays every fuzz target's seed corpus and regression corpus (inputs that
# once crashed or hung a campaign, minimised) under the normal build: each
# must run to the end.
set -u
: "${TOP_SRCDIR:=.}" "${TOP_BUILDDIR:=.}"
fail=0
for t in config idx cifar h5w; do
  bin="$TOP_BUILDDIR/tests/fuzz_${t}_replay"
  d="$TOP_SRCDIR/tests/fuzz"
  # a hang is a finding too: no input may take more than 60 s
  timeout 300 "$bin" "$d/corpus/$t" "$d/regress/$t" || { echo "FAIL: fuzz target $t on its corpora"; fail=1; }
done
exit $fail
