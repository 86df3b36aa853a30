# Engine legs for scripts/testbed: other engines beside the host's default one (sourced).
#
# Each leg runs in its own network namespace (dxl-<leg>) with its own socket, data, state
# and pidfiles, so it never touches the host's dockerd, docker0 or iptables:
#   docker20             Debian 12's docker.io, the host's default engine (nothing is started)
#   docker28             Docker 28.5 + containerd 2.1 from Debian sid (private apt configuration)
#   docker28-containerd  the same with the containerd image store
#   docker29             Docker 29.7.2, prebuilt (see engines_dir), with sid's containerd 2.1:
#                        the containerd image store, 29's default on a fresh install
#   docker29-graphdriver the same on the overlay2 graph driver (a host upgraded to 29)
#   podman4              Debian 12's podman 4.3, rootful `podman system service`
#   podman5              Podman 5.4 from Debian trixie, on trixie's glibc (patchelf)
# `leg_up LEG` is idempotent and prints `DOCKER_HOST=...` as its last line on stdout;
# progress goes to stderr. `leg_down LEG` stops only what the leg's pidfiles name.

LEGS=(docker20 docker28 docker28-containerd docker29 docker29-graphdriver podman4 podman5)
LEGS_RUN=/run/docker-exporter-legs         # sockets, pidfiles, exec roots, logs
LEGS_DATA=/var/lib/docker-exporter-legs    # data roots (image layers)
LEGS_CACHE=/var/cache/docker-exporter-legs # the private apt state and the extracted packages
MIRROR=${LEGS_MIRROR:-}                    # default: the Debian mirror apt already uses
SID_PACKAGES=(docker.io containerd runc docker-cli)
# trixie's podman, its network helpers, and the libraries Debian 12 has too old (or not at all)
TRIXIE_PACKAGES=(podman netavark aardvark-dns libc6 libgcc-s1 libgpgme11t64 libassuan9
                 libgpg-error0 libseccomp2 libsqlite3-0 libsubid5 libaudit1 libcap-ng0
                 libselinux1 libpcre2-8-0 libbsd0 libmd0)

say() { echo "testbed: $*" >&2; }
die() { echo "testbed: LEG CANNOT RUN: $*" >&2; exit 3; }

debian_mirror() {
  if [ -n "$MIRROR" ]; then echo "$MIRROR"; return; fi
  local uri
  uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
          /etc/apt/sources.list.d/*.sources \
        | grep -oE 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -1 | tr -d ' ')
  echo "${uri:-http://deb.debian.org/debian}"
}

# Download and unpack packages of another Debian suite with a private apt configuration
# (the system's sources, lists and cache are left alone): fetch_suite SUITE NAME PKG...
# prints the directory they are unpacked in, $LEGS_CACHE/NAME.
fetch_suite() {
  local suite=$1 name=$2; shift 2
  local apt=$LEGS_CACHE/apt-$suite root=$LEGS_CACHE/$name lock
  if [ -e "$root/.complete" ]; then echo "$root"; return; fi
  # Two legs may share a fetch (docker28 and docker29 both use sid's containerd): one at a time.
  mkdir -p "$LEGS_CACHE"
  exec {lock}>"$LEGS_CACHE/.fetch-$name.lock"
  flock "$lock"
  if [ -e "$root/.complete" ]; then echo "$root"; return; fi
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
  rm -rf "$root.debs" && mkdir -p "$root.debs"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $suite main" \
    >"$apt/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
              -o APT::Sandbox::User=root -qq)
  say "fetching Debian $suite's $* (private apt configuration in $apt)"
  apt-get "${opts[@]}" update >&2 || die "apt-get update of $suite failed"
  (cd "$root.debs" && apt-get "${opts[@]}" download "$@" >&2) \
    || die "apt-get download $* from $suite failed"
  rm -rf "$root.tmp" && mkdir -p "$root.tmp"
  for deb in "$root.debs"/*.deb; do dpkg -x "$deb" "$root.tmp"; done
  touch "$root.tmp/.complete"
  rm -rf "$root" && mv "$root.tmp" "$root"
  echo "$root"
}

sid_docker_root() { fetch_suite sid sid-docker "${SID_PACKAGES[@]}"; }

# A bin directory for the leg's PATH: sid's engine, and sid's runc only if it runs on this
# glibc (sid's runc needs a newer one than Debian 12's, whose runc 1.1.5 is used instead).
sid_docker_bin() {
  local root=$1 bin=$1/leg-bin
  mkdir -p "$bin"
  for tool in usr/sbin/dockerd usr/sbin/docker-proxy usr/bin/containerd \
              usr/bin/containerd-shim-runc-v2 usr/bin/docker usr/bin/ctr; do
    ln -sfn "$root/$tool" "$bin/$(basename "$tool")"
  done
  if "$root/usr/sbin/runc" --version >/dev/null 2>&1; then
    ln -sfn "$root/usr/sbin/runc" "$bin/runc"
  else
    command -v runc >/dev/null || die "sid's runc needs a newer glibc and Debian 12's runc is missing"
    ln -sfn "$(command -v runc)" "$bin/runc"
  fi
  "$bin/dockerd" --version >/dev/null 2>&1 || die "sid's dockerd does not run here: $("$bin/dockerd" --version 2>&1 | head -1)"
  "$bin/containerd" --version >/dev/null 2>&1 || die "sid's containerd does not run here"
  echo "$bin"
}

netns_up() {
  local ns=dxl-$1
  [ -e "/run/netns/$ns" ] || ip netns add "$ns"
  ip -n "$ns" link set lo up
}

# Remove the leg's namespace. What still runs in it and names the leg's directories on its
# command line is the leg's own leftover (Podman 4's exec-session conmon monitors outlive
# their removed containers): stopped. Anything else is left alone, with a warning.
netns_down() {
  local leg=$1 ns=dxl-$1 pid
  [ -e "/run/netns/$ns" ] || return 0
  for pid in $(ip netns pids "$ns" 2>/dev/null); do
    if ours "$pid" "$LEGS_RUN/$leg/" || ours "$pid" "$LEGS_DATA/$leg/"; then
      kill -TERM "$pid" 2>/dev/null || true
    else
      say "warning: pid $pid still in netns $ns (not ours to stop: left alone)"
    fi
  done
  for _ in $(seq 1 25); do
    [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
    sleep 0.2
  done
  for pid in $(ip netns pids "$ns" 2>/dev/null); do  # conmon may ignore SIGTERM
    if ours "$pid" "$LEGS_RUN/$leg/" || ours "$pid" "$LEGS_DATA/$leg/"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  ip netns delete "$ns"
}

# Whether `pid` from a leg's pidfile is alive and its command line names the leg's directory.
ours() {
  local pid=$1 marker=$2
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$marker"
}

stop_pidfile() {
  local pidfile=$1 marker=$2 pid
  [ -s "$pidfile" ] || return 0
  pid=$(tr -d ' \n' <"$pidfile")
  if ours "$pid" "$marker"; then
    say "stopping pid $pid ($(basename "$pidfile"))"
    kill -TERM "$pid"
    for _ in $(seq 1 150); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
    [ -d "/proc/$pid" ] && { say "pid $pid ignored SIGTERM for 30 s: SIGKILL"; kill -KILL "$pid"; }
  fi
  rm -f "$pidfile"
}

unmount_under() {
  local prefix
  for prefix in "$@"; do
    [ -d "$prefix" ] || continue
    awk -v p="$prefix/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r -u \
      | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  done
}

ping_socket() { curl -sf --max-time 2 --unix-socket "$1" http://engine/_ping >/dev/null 2>&1; }

wait_socket() {
  local sock=$1 log=$2 pid=$3
  for _ in $(seq 1 240); do
    ping_socket "$sock" && return 0
    [ -d "/proc/$pid" ] || break
    sleep 0.25
  done
  tail -25 "$log" >&2
  die "the engine on $sock did not answer (log: $log)"
}

# busybox:local: a busybox-static root filesystem, imported (nothing is pulled).
import_busybox() {
  local host=$1 rootfs
  if docker -H "$host" image inspect busybox:local >/dev/null 2>&1; then return; fi
  say "importing busybox:local into $host"
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs"/{bin,tmp,etc,proc,sys,dev,root}
  cp "$(command -v busybox)" "$rootfs/bin/busybox"
  for applet in $("$rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
  echo 'root:x:0:' >"$rootfs/etc/group"
  tar -C "$rootfs" -c . | docker -H "$host" import -c 'CMD ["/bin/sh"]' - busybox:local >/dev/null
  rm -rf "$rootfs"
}

# The prebuilt engines (Debian has no Docker 29): $DXT_ENGINES_DIR if set (and only it),
# else ../shared/engines beside the repository, else /work/shared/engines (a CI clone lives
# elsewhere). Prints nothing if none exists.
engines_dir() {
  local dir dirs=("${ROOT:-.}/../shared/engines" /work/shared/engines)
  [ -z "${DXT_ENGINES_DIR:-}" ] || dirs=("$DXT_ENGINES_DIR")
  for dir in "${dirs[@]}"; do
    [ -d "$dir" ] && { (cd "$dir" && pwd); return; }
  done
  return 0
}

# A bin directory for a Docker 29 leg: dockerd, docker-proxy and runc 1.3.6 from the engines
# directory (29 puts containers in a time namespace, which Debian 12's runc 1.1.5 cannot
# create), containerd and the docker CLI from sid's packages.
docker29_bin() {
  local engines dir bin=$LEGS_CACHE/docker29-bin root
  leg_available docker29
  engines=$(engines_dir)
  dir=$engines/docker-29.7.2
  for tool in dockerd docker-proxy runc; do
    [ -x "$dir/$tool" ] || die "$dir/$tool is missing (see $dir/BUILD.md)"
  done
  if [ -r "$dir/SHA256SUMS" ]; then
    (cd "$dir" && sha256sum --quiet -c SHA256SUMS >&2) || die "$dir does not match its SHA256SUMS"
  fi
  root=$(sid_docker_root)
  mkdir -p "$bin"
  for tool in dockerd docker-proxy runc; do ln -sfn "$dir/$tool" "$bin/$tool"; done
  for tool in usr/bin/containerd usr/bin/containerd-shim-runc-v2 usr/bin/docker usr/bin/ctr; do
    ln -sfn "$root/$tool" "$bin/$(basename "$tool")"
  done
  "$bin/dockerd" --version >/dev/null 2>&1 || die "$dir/dockerd does not run here: $("$bin/dockerd" --version 2>&1 | head -1)"
  "$bin/runc" --version >/dev/null 2>&1 || die "$dir/runc does not run here: $("$bin/runc" --version 2>&1 | head -1)"
  "$bin/containerd" --version >/dev/null 2>&1 || die "sid's containerd does not run here"
  echo "$bin"
}

# Whether LEG can run on this machine (exit 0) or why not (LEG CANNOT RUN, exit 3), without
# starting anything: only the Docker 29 legs need something a machine may not have.
leg_available() {
  case "$1" in
    docker29|docker29-graphdriver)
      [ -n "$(engines_dir)" ] && [ -x "$(engines_dir)/docker-29.7.2/dockerd" ] \
        || die "no prebuilt Docker 29 on this machine (set DXT_ENGINES_DIR, or put docker-29.7.2/ in ../shared/engines beside the repository or in /work/shared/engines; its BUILD.md is the recipe)" ;;
  esac
}

# A dockerd leg (docker28*, docker29*) on its own socket, data and exec roots, in its own
# network namespace, with its own containerd (started by dockerd, in its own namespaces).
leg_dockerd() {
  local leg=$1 run=$LEGS_RUN/$1 data=$LEGS_DATA/$1 bin settings=""
  local sock=$run/docker.sock
  case "$leg" in
    docker28-containerd) settings='"features": {"containerd-snapshotter": true},' ;;
    docker29-graphdriver) settings='"storage-driver": "overlay2",' ;;
    # docker29: nothing; a fresh data root gets 29's default, the containerd image store
  esac
  mkdir -p "$run" "$data"
  if ! ping_socket "$sock"; then
    case "$leg" in
      docker29*) bin=$(docker29_bin) ;;
      *) bin=$(sid_docker_bin "$(sid_docker_root)") ;;
    esac
    leg_down "$leg" 2>/dev/null  # a stale pidfile or namespace from a crashed run
    mkdir -p "$run" "$data"
    netns_up "$leg"
    cat >"$run/daemon.json" <<EOF
{ $settings
  "iptables": false, "ip6tables": false, "ip-masq": false, "ip-forward": false,
  "userland-proxy": false, "log-level": "info" }
EOF
    say "starting $leg: $("$bin/dockerd" --version) with $("$bin/containerd" --version | cut -d' ' -f3) (log: $run/dockerd.log)"
    # nsenter joins only the leg's network namespace (no new mount namespace), so the
    # container mounts and cgroups are the host's view, as with any dockerd (`ip netns exec`
    # remounts /sys, hiding the cgroup v1 mounts: "Devices cgroup isn't mounted").
    PATH=$bin:$PATH setsid nohup nsenter --net="/run/netns/dxl-$leg" -- "$bin/dockerd" \
      --host "unix://$sock" --data-root "$data" --exec-root "$run/exec" \
      --pidfile "$run/docker.pid" --config-file "$run/daemon.json" \
      --containerd-namespace "dxl-$leg" --containerd-plugins-namespace "dxl-$leg-plugins" \
      --shutdown-timeout 5 >>"$run/dockerd.log" 2>&1 </dev/null &
    wait_socket "$sock" "$run/dockerd.log" $!
  fi
  import_busybox "unix://$sock"
  echo "DOCKER_HOST=unix://$sock"
}

# podman_conf RUN DATA [ENGINE_LINES [NETWORK_LINES]]: the leg's containers.conf.
podman_conf() {
  local run=$1 data=$2 engine=${3:-} network=${4:-}
  # Root here lacks CAP_SYS_RESOURCE: Podman's default ulimits above the hard limits make
  # runc fail ("error setting rlimit type 7/6"), so ask for exactly the hard limits (Podman
  # caps its own RLIMIT_NPROC at pid_max).
  local nofile nproc pid_max
  nofile=$(ulimit -Hn); nproc=$(ulimit -Hu); pid_max=$(cat /proc/sys/kernel/pid_max)
  [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ] && nproc=$pid_max
  cat >"$run/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$run/events.log"
tmp_dir = "$run/tmp"
$engine
[network]
network_config_dir = "$data/networks"
$network
EOF
}

# Rootful `podman system service` on the leg's socket, in the leg's network namespace.
# podman4 is Debian 12's podman; podman5 is trixie's (trixie_podman_root).
leg_podman() {
  local leg=$1 run=$LEGS_RUN/$1 data=$LEGS_DATA/$1
  local sock=$run/podman.sock podman=podman engine="" network=""
  mkdir -p "$run" "$data"
  if ! ping_socket "$sock"; then
    local need=()
    for tool in podman netavark aardvark-dns conmon runc; do
      [ -x "/usr/bin/$tool" ] || [ -x "/usr/sbin/$tool" ] || [ -x "/usr/lib/podman/$tool" ] \
        || need+=("$tool")
    done
    if [ ${#need[@]} -gt 0 ]; then
      say "installing Debian 12's ${need[*]}"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
    fi
    if [ "$leg" = podman5 ]; then
      local root
      root=$(trixie_podman_root)
      podman=$root/usr/bin/podman
      engine="runtime = \"runc\"
helper_binaries_dir = [\"$root/usr/lib/podman\"]
conmon_path = [\"$(command -v conmon)\"]"
      network='firewall_driver = "iptables"'
    fi
    leg_down "$leg" 2>/dev/null
    mkdir -p "$run/tmp" "$data/networks"
    netns_up "$leg"
    podman_conf "$run" "$data" "$engine" "$network"
    say "starting $leg: $("$podman" --version) (log: $run/podman.log)"
    CONTAINERS_CONF=$run/containers.conf setsid nohup nsenter --net="/run/netns/dxl-$leg" -- \
      "$podman" --root "$data/storage" --runroot "$run/runroot" --storage-driver overlay \
      system service --time 0 "unix://$sock" >>"$run/podman.log" 2>&1 </dev/null &
    echo $! >"$run/podman.pid"
    wait_socket "$sock" "$run/podman.log" $!
  fi
  import_busybox "unix://$sock"
  echo "DOCKER_HOST=unix://$sock"
}

# Podman 5 from trixie with trixie's glibc beside it: its binaries get that glibc's loader
# as interpreter and its library directory as (transitive) RPATH. Debian 12's conmon and
# runc run its containers; netavark uses iptables (its nftables default needs `nft`).
trixie_podman_root() {
  local root
  root=$(fetch_suite trixie trixie-podman "${TRIXIE_PACKAGES[@]}")
  if [ ! -e "$root/.patched" ]; then
    command -v patchelf >/dev/null || {
      say "installing Debian 12's patchelf"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends patchelf >/dev/null \
        || die "apt-get install patchelf failed"
    }
    local lib=$root/usr/lib/x86_64-linux-gnu
    for tool in usr/bin/podman usr/lib/podman/netavark usr/lib/podman/aardvark-dns; do
      patchelf --set-interpreter "$lib/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$lib" \
        "$root/$tool" || die "patchelf $tool failed"
    done
    touch "$root/.patched"
  fi
  "$root/usr/bin/podman" --version >/dev/null 2>&1 \
    || die "trixie's podman does not run here: $("$root/usr/bin/podman" --version 2>&1 | head -1)"
  echo "$root"
}

leg_up() {
  leg_available "$1"
  case "$1" in
    docker20)
      "$ROOT/scripts/testbed" --engine-only >&2
      echo "DOCKER_HOST=unix:///var/run/docker.sock" ;;
    docker28|docker28-containerd|docker29|docker29-graphdriver) leg_dockerd "$1" ;;
    podman4) leg_podman "$1" ;;
    podman5) leg_podman "$1" ;;
    *) echo "unknown leg $1 (legs: ${LEGS[*]})" >&2; exit 2 ;;
  esac
}

# Stop what the leg started (its pidfiles only), remove its containers' mounts and its
# network namespace. Its data root stays (the imported image), so the next start is quick.
leg_down() {
  local leg=$1 run=$LEGS_RUN/$1 data=$LEGS_DATA/$1
  case "$leg" in
    docker20) say "docker20 is the host's default engine: nothing to tear down"; return ;;
    docker28|docker28-containerd|docker29|docker29-graphdriver)
      if ping_socket "$run/docker.sock"; then
        local ids
        ids=$(docker -H "unix://$run/docker.sock" ps -aq)
        [ -z "$ids" ] || docker -H "unix://$run/docker.sock" rm -f $ids >/dev/null 2>&1 || true
      fi
      stop_pidfile "$run/docker.pid" "$run"
      stop_pidfile "$run/exec/containerd/containerd.pid" "$run" ;;
    podman4|podman5)
      if ping_socket "$run/podman.sock"; then
        local ids
        ids=$(docker -H "unix://$run/podman.sock" ps -aq)
        [ -z "$ids" ] || docker -H "unix://$run/podman.sock" rm -f $ids >/dev/null 2>&1 || true
      fi
      stop_pidfile "$run/podman.pid" "$run"
      # Leftover conmon monitors of this leg's containers (their command line names $run).
      for pidfile in "$run"/runroot/overlay-containers/*/userdata/conmon.pid; do
        [ -e "$pidfile" ] && stop_pidfile "$pidfile" "$run"
      done ;;
    *) echo "unknown leg $leg (legs: ${LEGS[*]})" >&2; exit 2 ;;
  esac
  unmount_under "$run" "$data"
  netns_down "$leg"
  rm -rf "$run"
}
