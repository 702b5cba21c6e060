#!/usr/bin/env bash
# Install the Debian packages the test suite needs: kcat (a librdkafka CLI peer),
# a JDK (javac + java, to compile and run the Java client compat program) and
# ZooKeeper (the coordinator of cluster mode; tests run its server jar directly, no systemd).
# Idempotent and quiet when everything is already there. Runs as root, or via sudo.
set -euo pipefail

need=()
command -v kcat >/dev/null 2>&1 || need+=(kcat)
{ command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1; } || need+=(openjdk-17-jdk-headless)
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
else
    echo "install-system-deps: need root or sudo to install: ${need[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() {
    "${as_root[@]}" apt-get install -y -q --no-install-recommends "$@" </dev/null
}

echo "install-system-deps: installing ${need[*]}" >&2
# Refresh the package lists only when apt does not know a package yet (saves a minute on CI).
for pkg in "${need[@]}"; do
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
        "${as_root[@]}" apt-get update -q </dev/null
        break
    fi
done
if ! apt_install "${need[@]}"; then
    # A stale list can name a version the mirror no longer serves: refresh once and retry.
    "${as_root[@]}" apt-get update -q </dev/null
    apt_install "${need[@]}"
fi
