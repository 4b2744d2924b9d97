#!/usr/bin/env bash
# Builds the images the chart needs, with no container engine and no registry:
#   * a Debian bookworm base (debootstrap --variant=minbase) with this machine's Node.js
#     copied in (the files of its nodejs package), committed with buildah under the name
#     services/node/Dockerfile's ARG NODE_IMAGE expects when the Node major matches,
#     otherwise under node:<major>-bookworm-slim passed with --build-arg;
#   * the node image from services/node/Dockerfile itself (buildah bud, RUN steps on the
#     host network: npm and Debian's mirror are reached as this machine reaches them);
#   * a Redis image: the same base plus Debian's redis-server;
# saved as docker archives in $PASTRY_E2E_CACHE/images (workload-*.tar, imported by up.sh)
# and imported into the running cluster's containerd if there is one.
#
#   bash test/e2e/cluster/images.sh     # prints the --set flags for helm
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"
[[ $(id -u) == 0 ]] || die "images.sh must run as root (debootstrap, buildah)"

NODE_IMAGE_LOCAL="${PASTRY_E2E_NODE_IMAGE:-localhost/pastry-node:e2e}"
REDIS_IMAGE_LOCAL="${PASTRY_E2E_REDIS_IMAGE:-localhost/pastry-redis:e2e}"
ROOTFS_DIR="$E2E_CACHE/rootfs"
IMAGES_DIR="$E2E_CACHE/images"
WORK="$E2E_CACHE/work"
mkdir -p "$ROOTFS_DIR" "$IMAGES_DIR"

cleanup() {
  local rc=$?
  # Unmount the chroot helpers, drop buildah working containers, leave no mount behind.
  for m in proc sys dev/pts dev; do
    for d in "$WORK"/*/"$m"; do if mountpoint -q "$d" 2>/dev/null; then umount -l "$d" || true; fi; done
  done
  bah rm --all >/dev/null 2>&1 || true
  umount_below "$BUILDAH_ROOT"
  rm -rf --one-file-system "$WORK"
  if ((rc != 0)); then log "images.sh failed (exit $rc); nothing is left running (the cache in $E2E_CACHE is kept)"; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM HUP

phase "packages"
# buildah needs an OCI runtime to run build steps, and apt_install skips Recommends (runc).
apt_install buildah runc debootstrap
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[[ -n $MIRROR ]] || MIRROR=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[[ -n $MIRROR ]] || die "no Debian mirror found in /etc/apt/sources.list*"
command -v node >/dev/null || die "node is not installed on this machine (its Node.js is copied into the image)"
NODE_VERSION=$(node --version); NODE_VERSION=${NODE_VERSION#v}; NODE_MAJOR=${NODE_VERSION%%.*}
NODE_PKG=$(dpkg -S "$(readlink -f "$(command -v node)")" 2>/dev/null | cut -d: -f1 | head -1)
[[ -n $NODE_PKG ]] || die "cannot tell which Debian package installed $(command -v node)"

# chroot_run DIR CMD...: runs CMD in the root filesystem DIR with /proc, /sys, /dev mounted.
chroot_run() {
  local dir=$1; shift
  mount -t proc proc "$dir/proc"; mount --rbind /sys "$dir/sys"; mount --rbind /dev "$dir/dev"
  local rc=0
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
  umount -l "$dir/dev" "$dir/sys" "$dir/proc" || true
  : >"$dir/etc/resolv.conf"
  return $rc
}

# rootfs_tar NAME: the cached root filesystem tarball of that name, made when missing.
make_rootfs() {
  local name=$1 out="$ROOTFS_DIR/$1.tar"
  [[ -s $out ]] && return 0
  local dir="$WORK/$name"
  rm -rf --one-file-system "$dir"; mkdir -p "$dir"
  case $name in
    bookworm-minbase)
      log "debootstrap --variant=minbase bookworm from $MIRROR"
      debootstrap --variant=minbase bookworm "$dir" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log: $WORK/debootstrap.log)"; }
      printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$MIRROR" "$MIRROR" >"$dir/etc/apt/sources.list"
      chroot_run "$dir" sh -c 'apt-get clean && rm -rf /var/lib/apt/lists/* /var/log/*.log /var/cache/debconf/*-old'
      ;;
    bookworm-redis)
      make_rootfs bookworm-minbase
      tar -C "$dir" -xf "$ROOTFS_DIR/bookworm-minbase.tar"
      chroot_run "$dir" sh -c 'apt-get -q update >/dev/null && apt-get -y -q install --no-install-recommends redis-server redis-tools >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/* /var/log/*.log /var/log/apt /var/log/redis/*'
      # The chart runs redis as uid 999 / gid 1000 on a read-only root: only /data is written.
      mkdir -p "$dir/data"; chmod 0777 "$dir/data"
      ;;
    *) die "unknown rootfs $name" ;;
  esac
  tar --numeric-owner -C "$dir" -cf "$out.new" .
  mv -f "$out.new" "$out"
  rm -rf --one-file-system "$dir"
}

image_exists() { bah inspect --type image "$1" >/dev/null 2>&1; }

# ------------------------------------------------------------------------------------------
phase "base root filesystem"
make_rootfs bookworm-minbase

phase "node base image"
# The name the Dockerfile expects, if its Node major is the one this machine has.
dockerfile_node=$(sed -n 's/^ARG NODE_IMAGE=\(.*\)$/\1/p' "$E2E_REPO_ROOT/services/node/Dockerfile" | head -1)
dockerfile_major=$(sed -n 's/^node:\([0-9]*\).*/\1/p' <<<"$dockerfile_node")
BUILD_ARGS=()
if [[ -n $dockerfile_node && $dockerfile_major == "$NODE_MAJOR" ]]; then
  BASE_IMAGE="docker.io/library/$dockerfile_node"
else
  BASE_IMAGE="docker.io/library/node:$NODE_MAJOR-bookworm-slim"
  BUILD_ARGS=(--build-arg "NODE_IMAGE=$BASE_IMAGE")
  log "services/node/Dockerfile expects NODE_IMAGE=${dockerfile_node:-?}; this machine has Node $NODE_VERSION: building with --build-arg NODE_IMAGE=$BASE_IMAGE"
fi
base_label="pastry-e2e.node=$NODE_VERSION"
if image_exists "$BASE_IMAGE" && [[ $(bah inspect --type image -f '{{index .OCIv1.Config.Labels "pastry-e2e.node"}}' "$BASE_IMAGE" 2>/dev/null) == "$NODE_VERSION" ]]; then
  log "$BASE_IMAGE (Node $NODE_VERSION) already built"
else
  mkdir -p "$WORK"
  # The files of this machine's Node.js package (node, npm, npx, corepack, headers), and
  # npm's and corepack's directories whole (npm may have been updated in place).
  {
    dpkg -L "$NODE_PKG" | while read -r f; do
      if [[ -f $f || -L $f ]]; then echo "${f#/}"; fi
    done
    for d in /usr/lib/node_modules/npm /usr/lib/node_modules/corepack; do
      if [[ -d $d ]]; then find "$d" \( -type f -o -type l \) | sed 's#^/##'; fi
    done
  } | sort -u >"$WORK/node-files"
  tar -C / --no-recursion -cf "$WORK/node.tar" -T "$WORK/node-files"
  c=$(bah from scratch)
  bah add "$c" "$ROOTFS_DIR/bookworm-minbase.tar" / >/dev/null
  bah add "$c" "$WORK/node.tar" / >/dev/null
  bah run --network none "$c" -- sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node && node --version && npm --version' >&2
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env "NODE_VERSION=$NODE_VERSION" --label "$base_label" --cmd node --workingdir / "$c"
  bah commit --rm -q "$c" "$BASE_IMAGE" >/dev/null
fi

phase "node image (buildah bud services/node/Dockerfile)"
cd "$E2E_REPO_ROOT"
# npm in the RUN steps trusts what this machine trusts: the host's CA bundle and an npmrc
# naming it are bind-mounted at npm's global config path (/usr/etc) for the build only;
# nothing of it is committed into the image.
VOLUMES=()
host_ca=${NODE_EXTRA_CA_CERTS:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
if [[ -s $host_ca ]]; then
  mkdir -p "$WORK/npm-etc"
  cp "$host_ca" "$WORK/npm-etc/host-ca.crt"
  printf 'cafile=/usr/etc/host-ca.crt\n' >"$WORK/npm-etc/npmrc"
  VOLUMES=(-v "$WORK/npm-etc:/usr/etc:ro")
fi
bah bud --layers --pull=never --network host --isolation oci "${VOLUMES[@]}" \
  -f services/node/Dockerfile "${BUILD_ARGS[@]}" -t "$NODE_IMAGE_LOCAL" . >"$IMAGES_DIR/pastry-node.build.log" 2>&1 \
  || { tail -40 "$IMAGES_DIR/pastry-node.build.log" >&2; die "buildah bud of services/node/Dockerfile failed (log: $IMAGES_DIR/pastry-node.build.log)"; }
rm -f "$IMAGES_DIR/workload-pastry-node.tar.new"
bah push -q "$NODE_IMAGE_LOCAL" "docker-archive:$IMAGES_DIR/workload-pastry-node.tar.new:$NODE_IMAGE_LOCAL"
mv -f "$IMAGES_DIR/workload-pastry-node.tar.new" "$IMAGES_DIR/workload-pastry-node.tar"

phase "redis image"
if [[ -s $IMAGES_DIR/workload-redis.tar ]] && image_exists "$REDIS_IMAGE_LOCAL"; then
  log "$REDIS_IMAGE_LOCAL already built"
else
  make_rootfs bookworm-redis
  c=$(bah from scratch)
  bah add "$c" "$ROOTFS_DIR/bookworm-redis.tar" / >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --user 999:1000 --workingdir /data --cmd redis-server --port 6379/tcp "$c"
  bah commit --rm -q "$c" "$REDIS_IMAGE_LOCAL" >/dev/null
  rm -f "$IMAGES_DIR/workload-redis.tar.new"
  bah push -q "$REDIS_IMAGE_LOCAL" "docker-archive:$IMAGES_DIR/workload-redis.tar.new:$REDIS_IMAGE_LOCAL"
  mv -f "$IMAGES_DIR/workload-redis.tar.new" "$IMAGES_DIR/workload-redis.tar"
fi

phase "import"
if [[ -S $CONTAINERD_SOCK ]]; then
  for tar in "$IMAGES_DIR"/workload-*.tar; do
    ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$tar" >/dev/null || die "ctr import of $tar failed"
  done
  log "imported into the cluster's containerd: $(ctr --address "$CONTAINERD_SOCK" -n k8s.io images ls -q | grep -v '^sha256:' | tr '\n' ' ')"
else
  log "no cluster running: up.sh imports $IMAGES_DIR/workload-*.tar when it starts"
fi
phase ""

node_repo=${NODE_IMAGE_LOCAL%:*}; node_tag=${NODE_IMAGE_LOCAL##*:}
redis_repo=${REDIS_IMAGE_LOCAL%:*}; redis_tag=${REDIS_IMAGE_LOCAL##*:}
HELM_SET="--set image.repository=$node_repo --set image.tag=$node_tag --set image.pullPolicy=Never --set redis.image.repository=$redis_repo --set redis.image.tag=$redis_tag --set redis.image.pullPolicy=Never"
echo "$HELM_SET" >"$IMAGES_DIR/helm-set"
echo "$HELM_SET"
