#!/bin/sh
# hostwatch agent installer:
#
#   curl -fsSL https://EDGE/install.sh | sh -s -- --hub https://HUB:7400 --token TOKEN
#
# Downloads the agent binary for this machine's architecture, checks it against
# the SHA-256 published beside it, then runs `hostwatch-agent install` with the
# arguments given (`hostwatch-agent install --help` lists them: --site,
# --interval, --ca-file, --root, --no-start, --force).
#
# Environment:
#   HOSTWATCH_DOWNLOAD_URL  base URL holding hostwatch-agent-<arch>-linux and
#                           hostwatch-agent-<arch>-linux.sha256
#                           (default: the project's latest release)
#   HOSTWATCH_AGENT_BIN     use this local binary; nothing is downloaded
#   TMPDIR                  where the download waits (must allow exec)
#
# The checksum catches a truncated or corrupted download; it comes from the same
# place as the binary, so the trust in that place (https) is what authenticates it.
set -eu
# Everything runs from main, called on the last line: a download cut short
# leaves a script that does nothing rather than half of it.

default_url=https://github.com/hostwatch/hostwatch/releases/latest/download
base=${HOSTWATCH_DOWNLOAD_URL:-$default_url}

say() { printf 'install.sh: %s\n' "$*" >&2; }
die() {
  say "$*"
  exit 1
}

# Release asset names use Rust's architecture names.
detect_arch() {
  case $(uname -m) in
  x86_64 | amd64) echo x86_64 ;;
  aarch64 | arm64) echo aarch64 ;;
  *) return 1 ;;
  esac
}

fetch() { # URL FILE
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    die "neither curl nor wget is installed"
  fi
}

sha256() { # FILE -> hex digest on stdout
  if command -v sha256sum >/dev/null 2>&1; then
    set -- "$(sha256sum "$1")"
  elif command -v shasum >/dev/null 2>&1; then
    set -- "$(shasum -a 256 "$1")"
  else
    die "neither sha256sum nor shasum is installed"
  fi
  echo "${1%% *}"
}

main() {
  [ "$(uname -s)" = Linux ] || die "the agent runs on Linux only (this is $(uname -s))"

  if [ -n "${HOSTWATCH_AGENT_BIN:-}" ]; then
    bin=$HOSTWATCH_AGENT_BIN
    [ -x "$bin" ] || die "HOSTWATCH_AGENT_BIN=$bin is not an executable file"
  else
    arch=$(detect_arch) || die "unsupported architecture: $(uname -m)"
    name=hostwatch-agent-$arch-linux
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/hostwatch-install.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    trap 'exit 1' HUP INT TERM
    say "downloading $base/$name"
    fetch "$base/$name" "$tmp/$name" || die "download of $base/$name failed"
    fetch "$base/$name.sha256" "$tmp/$name.sha256" || die "download of $base/$name.sha256 failed"
    # `sha256sum` output ("<hex>  <name>") or the bare digest.
    read -r expected _ <"$tmp/$name.sha256" || true
    case $expected in
    *[!0-9a-f]* | "") die "$name.sha256 does not hold a SHA-256 digest" ;;
    esac
    [ ${#expected} -eq 64 ] || die "$name.sha256 does not hold a SHA-256 digest"
    actual=$(sha256 "$tmp/$name")
    [ "$actual" = "$expected" ] || die "checksum mismatch for $name: expected $expected, got $actual"
    say "sha256 ok ($actual)"
    bin=$tmp/$name
    chmod 0755 "$bin"
    "$bin" --version >/dev/null 2>&1 ||
      die "cannot run $bin (is ${TMPDIR:-/tmp} mounted noexec? set TMPDIR to another directory)"
  fi

  # Writing to / needs root; an install under --root DIR does not.
  own_root=false
  for arg in "$@"; do
    case $arg in
    --root | --root=*) own_root=true ;;
    esac
  done
  if [ "$(id -u)" -ne 0 ] && [ "$own_root" = false ]; then
    command -v sudo >/dev/null 2>&1 || die "run as root (sudo is not installed)"
    sudo "$bin" install "$@"
  else
    "$bin" install "$@"
  fi
}

main "$@"
