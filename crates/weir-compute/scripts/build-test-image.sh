#!/usr/bin/env bash
# Builds `weir-test/busybox:latest`, the image the docker backend's tests run, from
# Debian's static busybox: an empty file system (as `FROM scratch`) with busybox, its
# applets as symlinks and a /tmp, imported with `docker import`. Nothing is pulled (the
# machines have no image registry). Idempotent: installs `busybox-static` only when
# /bin/busybox is missing, and rebuilds the image only when it is absent or `--force` is
# given. Needs root (for apt-get) and a running Docker daemon.
set -euo pipefail

IMAGE="${WEIR_TEST_IMAGE:-weir-test/busybox:latest}"

if [[ "${1:-}" != "--force" ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "build-test-image: $IMAGE is present"
    exit 0
fi

if [[ ! -x /bin/busybox ]]; then
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends busybox-static; then
        apt-get update
        apt-get install -y --no-install-recommends busybox-static
    fi
fi
# Must be the static build: a scratch image has no libc.
ldd_out="$(LC_ALL=C ldd /bin/busybox 2>&1 || true)"
if [[ "$ldd_out" != *"not a dynamic"* ]]; then
    echo "build-test-image: /bin/busybox is not statically linked (install busybox-static)" >&2
    exit 1
fi

# A root file system of busybox and its applets as symlinks, imported as an image: no
# builder (legacy or BuildKit) and no registry involved.
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc"
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
    [[ "$applet" == busybox ]] || ln -sf busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
tar -C "$root" --owner=0 --group=0 --numeric-owner -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'CMD ["sh"]' \
    - "$IMAGE" >/dev/null
tools="sh echo sleep cat head dd tr ln trap date"
if ! docker run --rm "$IMAGE" sh -c "for t in $tools; do command -v \$t >/dev/null || { echo \"missing: \$t\" >&2; exit 1; }; done"; then
    echo "build-test-image: $IMAGE lacks one of: $tools" >&2
    exit 1
fi
echo "build-test-image: built $IMAGE"
