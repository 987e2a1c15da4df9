#!/usr/bin/env bash
# Install Apptainer from its Go module when it is missing (Debian 12 does not package it).
# The build (10-20 min on 2 cores) is cached in $SAC_APPTAINER_PREFIX (default
# /opt/sac-apptainer/VERSION): later runs only link it onto PATH.
#
#   build/install-apptainer.sh            # installs if needed, prints the apptainer path
#
# Route (see shared/FACTS.md): `go mod download` the module, copy it out (the module cache
# is read-only and drops file modes), write VERSION, mconfig without suid/network/subid,
# make with the Go proxy, make install. Root on these VMs lacks CAP_SYS_RESOURCE, so
# apptainer.conf gets `root default capabilities = no`.
set -euo pipefail
VERSION=${APPTAINER_VERSION:-1.5.3}
PREFIX=${SAC_APPTAINER_PREFIX:-/opt/sac-apptainer/$VERSION}
BIN=$PREFIX/bin/apptainer

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  ln -sf "$BIN" /usr/local/bin/apptainer
  echo "$BIN"
  exit 0
fi

need=()
for pkg in build-essential pkg-config libseccomp-dev squashfs-tools cryptsetup-bin squashfuse fuse2fs uidmap debootstrap; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "apptainer: apt-get install ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "apptainer: Go is needed to build Apptainer (>= 1.25.7)" >&2; exit 1; }

work=$(mktemp -d /tmp/sac-apptainer-build.XXXXXX)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
echo "apptainer: downloading the module github.com/apptainer/apptainer@v$VERSION" >&2
dir=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/apptainer/apptainer@v$VERSION" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
cd "$work/src"
find . -type f \( -name '*.sh' -o -name mconfig -o -path '*/scripts/*' -o -path './makeit/*' -o -path '*/bin/*' \) -exec chmod +x {} +
echo "$VERSION" > VERSION
echo "apptainer: configuring (prefix $PREFIX)" >&2
./mconfig --without-suid --without-network --without-libsubid -p "$PREFIX" >"$work/mconfig.log" 2>&1 ||
  { tail -20 "$work/mconfig.log" >&2; exit 1; }
echo "apptainer: building (10-20 minutes on 2 cores)" >&2
start=$(date +%s)
make -C builddir -j"$(nproc)" GOPROXY="$(go env GOPROXY)" >"$work/make.log" 2>&1 ||
  { tail -30 "$work/make.log" >&2; exit 1; }
make -C builddir install >"$work/install.log" 2>&1 || { tail -20 "$work/install.log" >&2; exit 1; }
echo "apptainer: built in $(( $(date +%s) - start )) s" >&2

conf=$PREFIX/etc/apptainer/apptainer.conf
if grep -q '^root default capabilities' "$conf"; then
  sed -i 's/^root default capabilities.*/root default capabilities = no/' "$conf"
else
  echo 'root default capabilities = no' >> "$conf"
fi
ln -sf "$BIN" /usr/local/bin/apptainer
"$BIN" --version >&2
echo "$BIN"
