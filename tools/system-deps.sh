#!/usr/bin/env bash
# Debian packages the end-to-end tests use: chromium (browser tests), nodejs (the
# README's JavaScript client), docker.io (`sam local start-api`), binutils (stripping
# the built package) and handwriting fonts (the canvas-style evaluation set,
# training/canvas_eval.py).
# Installed only when missing and when we may (root with apt); otherwise those
# tests skip and say why.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
# readelf and strip: tools/post_build.py strips the shared libraries (x86_64 and arm64).
# node: the README's JavaScript client example is run against the local server.
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v readelf >/dev/null 2>&1 || need+=(binutils)
command -v aarch64-linux-gnu-strip >/dev/null 2>&1 || command -v llvm-strip >/dev/null 2>&1 \
  || need+=(binutils-aarch64-linux-gnu)
for font in fonts-dkg-handwriting fonts-breip fonts-bwht fonts-humor-sans fonts-comic-neue \
  fonts-rufscript fonts-sjfonts fonts-dancingscript fonts-kaushanscript fonts-kristi; do
  dpkg -s "$font" >/dev/null 2>&1 || need+=("$font")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: not installing ${need[*]} (needs root and apt); the tests that use them will skip" >&2
  exit 0
fi
echo "installing ${need[*]} ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
  || echo "warning: apt-get install ${need[*]} failed; the tests that use them will skip" >&2
exit 0
