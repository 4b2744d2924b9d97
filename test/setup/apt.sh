# Sourced by the ensure-*.sh scripts: apt_install WHO PACKAGE... installs Debian packages as
# root or through sudo, or exits 1 saying why. Another apt process may hold the dpkg lock (a
# parallel setup step): apt-get waits for it (DPkg::Lock::Timeout), and a failed attempt is retried.
apt_install() {
  local who=$1
  shift
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: $* missing and apt-get is not available; install them" >&2
    exit 1
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "$who: run as root or install sudo: apt-get install $* needs root" >&2
      exit 1
    fi
  fi
  echo "$who: installing $* with apt-get" >&2
  local attempt
  for attempt in 1 2 3 4 5 6; do
    if $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq &&
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >/dev/null; then
      return 0
    fi
    echo "$who: apt-get failed (attempt $attempt), retrying" >&2
    sleep 10
  done
}
