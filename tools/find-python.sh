#!/usr/bin/env bash
# Print the path of the Python the project runs on: the Lambda runtime's
# version (3.12) when this machine has it, else 3.13, with a note on stderr.
set -u
for v in 3.12 3.13; do
  for c in "python$v" "$(pyenv root 2>/dev/null)"/versions/"$v"*/bin/"python$v"; do
    if p=$(command -v "$c" 2>/dev/null) && "$p" -c 'import venv' 2>/dev/null; then
      [ "$v" = 3.12 ] || echo "note: Python 3.12 (the Lambda runtime) not found; using $v" >&2
      echo "$p"; exit 0
    fi
  done
done
echo "error: need Python 3.12 (or 3.13) to match the Lambda runtime; install it (e.g. 'pyenv install 3.12')" >&2
exit 1
