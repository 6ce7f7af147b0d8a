#!/usr/bin/env bash
# clang-format over the project's C sources. --check fails on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' '*.cu' 2>/dev/null | grep -v '^tests/fixtures/' | grep -v '_table\.h$' || true)
[ -n "$files" ] || exit 0
if [ "${1:-}" = "--check" ]; then
  clang-format --dry-run -Werror $files
  echo "format: ok"
else
  clang-format -i $files
fi
