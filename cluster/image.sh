#!/usr/bin/env bash
# The runtime image without a registry of images: a Debian bookworm base made from
# Debian's packages (mmdebstrap, as configured in /etc/apt), imported into the local
# Docker engine, and the release binary put on it by cluster/Dockerfile's runtime stage
# (read from it), which that file builds for those who can pull rust and debian images.
#
#   cluster/image.sh base             the base, once: reused while its tag exists
#   cluster/image.sh nano BIN [TAG]   BIN (exactly that file) on the base, as TAG
#   cluster/image.sh redis [TAG]      Debian's redis-server on the same base, as TAG
#
# The base holds the runtime's user (10001, as in cluster/Dockerfile), an empty /data
# it owns, and Debian's redis-server (bookworm's glibc, which the release binary built
# on bookworm needs). `docker build` here has no RUN step, so no container runs during
# a build and nothing is downloaded beyond the base's Debian packages.
set -euo pipefail

BASE=${BASE:-sedaro-nano-base:bookworm}

base() {
    if docker image inspect "$BASE" >/dev/null 2>&1; then
        echo "$BASE: present"
        return
    fi
    command -v mmdebstrap >/dev/null || {
        echo "cluster/image.sh: mmdebstrap is missing (.ci/deps installs it)" >&2
        exit 1
    }
    local rootfs status=0
    rootfs=$(mktemp -d)
    # minbase: essential packages and apt; then redis-server (with its libraries) and
    # ca-certificates (rediss:// to a Redis with a public certificate). The hooks add
    # the runtime's user and its volume's mount point, and empty apt's lists.
    mmdebstrap --variant=minbase --include=redis-server,ca-certificates \
        --customize-hook='chroot "$1" useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin nano' \
        --customize-hook='mkdir -p "$1/data" && chown 10001:10001 "$1/data"' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        bookworm "$rootfs/rootfs.tar" \
        && docker import --change 'CMD ["/bin/bash"]' "$rootfs/rootfs.tar" "$BASE" \
        || status=$?
    rm -rf "$rootfs"
    return $status
}

# Builds a Dockerfile read from stdin in a context holding only $2 (when given).
build() {
    local tag=$1 file=${2:-}
    local context said status=0
    context=$(mktemp -d)
    if [ -n "$file" ]; then
        cp "$file" "$context/sedaro-nano"
    fi
    # The legacy builder: Debian's docker.io has no buildx, and with no RUN step it
    # has nothing to do that BuildKit would do better.
    said=$(DOCKER_BUILDKIT=0 docker build --quiet --network none -t "$tag" -f - "$context" 2>&1) \
        || status=$?
    rm -rf "$context"
    if [ $status != 0 ]; then
        echo "$said" >&2
        return $status
    fi
    echo "$tag: built on $BASE"
}

nano() {
    local bin=${1:?usage: cluster/image.sh nano BIN [TAG]} tag=${2:-sedaro-nano:dev}
    [ -x "$bin" ] || {
        echo "cluster/image.sh: $bin is not an executable (make build makes target/release/sedaro-nano)" >&2
        exit 1
    }
    base
    local stage
    stage=$(runtime_stage)
    build "$tag" "$bin" <<EOF
FROM $BASE
$stage
EOF
}

# The runtime stage of cluster/Dockerfile (what follows its last FROM), for the base:
# its RUN left out (the base holds the user and /data it makes), the binary copied
# from the context rather than from the build stage.
runtime_stage() {
    awk '
        /^FROM / { n = 0; next }
        /^RUN / { skipping = 1 }
        skipping { skipping = /\\$/; next }
        { sub(/^COPY --from=build [^ ]+/, "COPY sedaro-nano"); stage[n++] = $0 }
        END { for (i = 0; i < n; i++) print stage[i] }
    ' "$(dirname "$0")/Dockerfile"
}

redis() {
    local tag=${1:-sedaro-nano-redis:bookworm}
    base
    # As the redis image: the server is the entrypoint, arguments are its flags, the
    # working directory is the (empty) /data volume.
    build "$tag" <<EOF
FROM $BASE
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["/usr/bin/redis-server"]
EOF
}

case "${1:-}" in
    base) base ;;
    nano) shift; nano "$@" ;;
    redis) shift; redis "$@" ;;
    *)
        sed -n '2,13p' "$0" >&2
        exit 2
        ;;
esac
