#!/bin/sh
# One formatting style: every C source and header under src/, tests/ and
# bench/ is as clang-format (the repository's .clang-format) would write it.
# Fix drift with: clang-format -i $(git ls-files '*.c' '*.h')
set -u
: "${TOP_SRCDIR:=.}"
cf=$(command -v clang-format || command -v clang-format-14 || true)
if [ -z "$cf" ]; then
  echo "clang-format is not installed (apt-get install clang-format): formatting not checked"
  exit 77
fi
cd "$TOP_SRCDIR" || exit 1
files=$(find src tests bench -name '*.[ch]' -not -path '*/fixtures/*' | sort)
[ -n "$files" ] || { echo "no sources found under $TOP_SRCDIR"; exit 1; }
fail=0
for f in $files; do
  if ! "$cf" --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "$f differs from .clang-format (clang-format -i $f)"
    fail=1
  fi
done
exit $fail
