# Sourced by scripts/test and scripts/up: make the environment the project needs, idempotently.
# - a virtualenv in .venv with the pinned Python packages (reinstalled when pyproject.toml changes)
# - the pinned node tools (solc, anvil, OpenZeppelin merkle-tree) when node/npm are present, and the resident
#   web wallet built with them (wallet_sdk/web/dist)
set -euo pipefail
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.civicpass-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  echo "$want" > "$stamp"
fi
if command -v npm >/dev/null 2>&1; then
  nstamp=node_modules/.civicpass-installed
  nwant=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -f "$nstamp" ] || [ "$(cat "$nstamp")" != "$nwant" ]; then
    # The lockfile lists every platform's optional anvil binary, so `npm ci` installs exactly it and never
    # rewrites a tracked file.
    npm ci --no-audit --no-fund --loglevel=error
    echo "$nwant" > "$nstamp"
  fi
  # The resident web wallet's bundle (wallet_sdk/web/dist, git-ignored), rebuilt when its sources change.
  wstamp=wallet_sdk/web/dist/.civicpass-built
  wwant=$(cat package-lock.json $(find wallet_sdk/web/src wallet_sdk/web/static wallet_sdk/web/build.mjs -type f | sort) \
    | sha256sum | cut -d' ' -f1)
  if [ ! -f "$wstamp" ] || [ "$(cat "$wstamp")" != "$wwant" ]; then
    node wallet_sdk/web/build.mjs
    echo "$wwant" > "$wstamp"
  fi
else
  echo "note: npm not found; tests that need node (solc rebuild, anvil, OpenZeppelin interop) will be skipped" >&2
fi
