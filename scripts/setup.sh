#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: Debian tools, the virtualenv, crm-bot itself.
# Usage: scripts/setup.sh run|test   (test adds the dev tools, espeak-ng/sox and openai-whisper)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-run}

tools=(ffmpeg)
[ "$MODE" = test ] && tools+=(espeak-ng sox)
missing=()
for t in "${tools[@]}"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
# a font with Chinese glyphs for the report charts (cards/charts.py looks for it at run time)
cjk=""; for f in /usr/share/fonts/truetype/wqy/wqy-*.ttc /usr/share/fonts/opentype/noto/NotoSansCJK*; do [ -e "$f" ] && cjk=1; done
[ -n "$cjk" ] || missing+=(fonts-wqy-microhei)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "setup: installing ${missing[*]} from Debian packages"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: crm-bot needs Python >= 3.11 (found $("$PY" --version))" >&2; exit 1
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=".venv/.installed-$MODE"
want="$(sha256sum pyproject.toml | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages ($MODE)"
  .venv/bin/pip install -q --upgrade pip
  if [ "$MODE" = test ]; then
    # The CPU build of PyTorch for openai-whisper; unpinned, pip would fetch GBs of CUDA packages.
    .venv/bin/pip install -q torch==2.13.0
    .venv/bin/pip install -q -e ".[dev,openai-whisper]"
  else
    .venv/bin/pip install -q -e .
  fi
  echo "$want" > "$stamp"
fi
