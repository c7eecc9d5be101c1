#!/bin/sh
# The docs are part of the product: the man page lints cleanly, documents
# every option that --help prints, and the README's install line is the one CI uses.
set -u
: "${SINKRB:=./sinkrb}" "${TOP_SRCDIR:=.}"
man="$TOP_SRCDIR/man/sinkrb.1"
fail=0

if command -v mandoc >/dev/null 2>&1; then
  out=$(mandoc -Tlint -W warning "$man" 2>&1)
  [ -z "$out" ] || { echo "mandoc lint:"; echo "$out"; fail=1; }
elif command -v groff >/dev/null 2>&1; then
  out=$(groff -man -ww -z "$man" 2>&1)
  [ -z "$out" ] || { echo "groff warnings:"; echo "$out"; fail=1; }
else
  echo "no man page linter (install mandoc)"; fail=1
fi

# Every long and short option printed by --help must appear in the man page
# (roff writes '-' as '\-').
opts=$("$SINKRB" --help | grep -oE '(^|[ ,])--?[a-zA-Z][a-zA-Z-]*' | sed 's/^[ ,]*//' | sort -u)
[ -n "$opts" ] || { echo "--help printed no options"; fail=1; }
for o in $opts; do
  esc=$(printf '%s' "$o" | sed 's/-/\\\\-/g')
  grep -q -- "$esc" "$man" || { echo "option $o from --help is missing in man/sinkrb.1"; fail=1; }
done
# ...and every command.
for c in run check plan collect info; do
  grep -q "^\.BI\{0,1\} *$c" "$man" || grep -q "^\.B sinkrb $c" "$man" || { echo "command $c missing in man page"; fail=1; }
done

# The README's apt-get line installs exactly what .ci/run installs.
readme_deps=$(grep -oE 'apt-get install -y [a-z0-9 .+-]+' "$TOP_SRCDIR/README.md" | head -n1 | sed 's/apt-get install -y //; s/ *$//' | tr ' ' '\n' | sort | tr '\n' ' ')
ci_deps=$(sed -n 's/^DEPS="\(.*\)"/\1/p' "$TOP_SRCDIR/.ci/run" | tr ' ' '\n' | sort | tr '\n' ' ')
[ "$readme_deps" = "$ci_deps" ] || { echo "README install line ($readme_deps) differs from .ci/run ($ci_deps)"; fail=1; }

# The README names the test command and the main job.
grep -q 'make check' "$TOP_SRCDIR/README.md" || { echo "README lacks the test command"; fail=1; }
grep -q 'sinkrb run configs/cifar_mlp.yaml' "$TOP_SRCDIR/README.md" || { echo "README lacks the main job"; fail=1; }
# Every shipped config is in the README table and passes `sinkrb check`.
for f in "$TOP_SRCDIR"/configs/*.yaml; do
  b=$(basename "$f")
  grep -q "$b" "$TOP_SRCDIR/README.md" || { echo "configs/$b is not in the README table"; fail=1; }
  (cd "$TOP_SRCDIR" && "$SINKRB" check "configs/$b" >/dev/null) || { echo "sinkrb check configs/$b failed"; fail=1; }
done

# The job-array examples are valid shell.
for f in "$TOP_SRCDIR"/doc/slurm_array.sbatch "$TOP_SRCDIR"/doc/slurm_submit.sh; do
  bash -n "$f" || { echo "$f is not valid shell"; fail=1; }
done

[ $fail -eq 0 ] && echo "docs: ok"
exit $fail
