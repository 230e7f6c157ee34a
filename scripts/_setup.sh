# Sourced by scripts/pulso, scripts/test and scripts/bench: makes sure Deno and libpcap are here.
# Deno: the one on PATH, else a pinned release from npm installed into .tools/ (once).
# libpcap: installed with apt-get when no libpcap.so.* is known to the dynamic loader.
set -euo pipefail

PULSO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DENO_VERSION="2.9.6"

pulso_log() { printf 'pulso setup: %s\n' "$*" >&2; }

pulso_find_deno() {
  if [ -n "${DENO:-}" ] && [ -x "$DENO" ]; then return 0; fi
  if command -v deno >/dev/null 2>&1; then DENO="$(command -v deno)"; return 0; fi
  local arch
  case "$(uname -m)" in
    x86_64 | amd64) arch="x64" ;;
    aarch64 | arm64) arch="arm64" ;;
    *) pulso_log "no Deno build for $(uname -m); install Deno and put it on PATH"; exit 1 ;;
  esac
  local os
  case "$(uname -s)" in
    Linux) os="linux-$arch-glibc" ;;
    Darwin) os="darwin-$arch" ;;
    *) pulso_log "unsupported system $(uname -s); install Deno and put it on PATH"; exit 1 ;;
  esac
  DENO="$PULSO_ROOT/.tools/node_modules/@deno/$os/deno"
  if [ ! -x "$DENO" ]; then
    command -v npm >/dev/null 2>&1 || { pulso_log "npm is needed to install Deno $DENO_VERSION"; exit 1; }
    pulso_log "installing Deno $DENO_VERSION from npm into .tools/"
    mkdir -p "$PULSO_ROOT/.tools"
    npm install --prefix "$PULSO_ROOT/.tools" --no-save --no-audit --no-fund --loglevel=error \
      "deno@$DENO_VERSION" >&2
    [ -x "$DENO" ] || { pulso_log "npm did not provide $DENO"; exit 1; }
  fi
}

pulso_have_libpcap() {
  [ -n "${LIBPCAP_PATH:-}" ] && [ -f "$LIBPCAP_PATH" ] && return 0
  if command -v ldconfig >/dev/null 2>&1; then
    ldconfig -p 2>/dev/null | grep -q 'libpcap\.so' && return 0
  fi
  [ "$(uname -s)" = Darwin ] && return 0 # part of macOS
  return 1
}

# pulso_apt PACKAGE... installs Debian packages that are missing (needs root or sudo).
pulso_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || { pulso_log "please install: ${missing[*]}"; exit 1; }
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  pulso_log "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >&2 || true
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

pulso_find_libpcap() {
  pulso_have_libpcap || pulso_apt libpcap0.8
}

pulso_find_deno
pulso_find_libpcap
export DENO
