#!/usr/bin/env bash
# Builds `weir-test/busybox:latest`, the image the docker backend's tests run, from
# Debian's static busybox: `FROM scratch`, busybox, and its applets as symlinks. Nothing
# is pulled (the machines have no image registry). Idempotent: installs `busybox-static`
# only when /bin/busybox is missing, and rebuilds the image only when it is absent or
# `--force` is given. Needs root (for apt-get) and a running Docker daemon.
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

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp /bin/busybox "$ctx/busybox"
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "mkdir", "-p", "/tmp", "/usr/bin", "/sbin", "/usr/sbin"]
RUN ["/bin/busybox", "chmod", "1777", "/tmp"]
RUN ["/bin/busybox", "--install", "-s"]
ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
CMD ["sh"]
DOCKERFILE
# The classic builder: BuildKit may want to fetch its frontend from a registry.
DOCKER_BUILDKIT=0 docker build --quiet -t "$IMAGE" "$ctx" >/dev/null
for tool in sh echo sleep cat head dd; do
    docker run --rm "$IMAGE" sh -c "command -v $tool >/dev/null" \
        || { echo "build-test-image: \`$tool\` is missing from $IMAGE" >&2; exit 1; }
done
echo "build-test-image: built $IMAGE"
