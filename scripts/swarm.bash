# A multi-node Docker Swarm on this machine, for the fleet tests (sourced by scripts/testbed
# after scripts/legs.bash).
#
# Every node is a dockerd of its own (Docker 29.7.2 from ../shared/engines when present,
# else Debian sid's 28.5), in namespaces of its own:
#   network  dxs-nI: one veth to the hub, address 10.251.0.I/24; Swarm's VXLAN (4789/udp),
#            gossip (7946) and control (2377) cross the hub and nothing else
#   UTS      host name swarm-nI: Swarm names nodes by host name, and the exporter's
#            `instance` comes from it (deploy/prometheus/dockerswarm_sd.yml)
#   mount    private: /var/run/docker.sock there is the node's own socket (bind-mounted),
#            so the stack's `/var/run/docker.sock` volume reaches the node's engine and not
#            the machine's; the overlay sandboxes' nsfs mounts stay in it too
# The hub is a namespace (dxs-hub) with a bridge: nothing is added to the host's network.
# Node 1 is the manager; the others join as workers. Images are built on the machine's
# default engine and loaded into every node (`docker save | docker load`): no registry.
#
#   swarm_up N          start (idempotently) nodes 1..N and join them; prints SWARM_* lines
#   swarm_node_up I     start node I and join it as a worker
#   swarm_node_rm I     drain node I, stop its engine, remove it from the Swarm
#   swarm_node_restart I  stop node I's engine and start it again (its Swarm state kept)
#   swarm_down          stop every node, remove the namespaces and state

SWARM_RUN=/run/docker-exporter-swarm
SWARM_DATA=/var/lib/docker-exporter-swarm
SWARM_NET=10.251.0
SWARM_HUB=dxs-hub

ssay() { echo "swarm: $*" >&2; }
sdie() { echo "swarm: SWARM CANNOT RUN: $*" >&2; exit 3; }

# The engine's bin directory: 29.7.2's dockerd, docker-proxy and runc with sid's
# containerd, or sid's Docker 28 when the 29 build is not on this machine.
swarm_bin() {
  local root engines bin=$LEGS_CACHE/swarm-bin
  root=$(sid_docker_root)
  engines=${DXT_ENGINES_DIR:-$ROOT/../shared/engines}
  [ -x "$engines/docker-29.7.2/dockerd" ] || engines=/work/shared/engines
  mkdir -p "$bin"
  for tool in usr/bin/containerd usr/bin/containerd-shim-runc-v2 usr/bin/docker usr/bin/ctr; do
    ln -sfn "$root/$tool" "$bin/$(basename "$tool")"
  done
  if [ -x "$engines/docker-29.7.2/dockerd" ]; then
    for tool in dockerd docker-proxy runc; do ln -sfn "$engines/docker-29.7.2/$tool" "$bin/$tool"; done
  else
    ssay "no Docker 29 build in $engines: the Swarm runs Debian sid's Docker 28"
    local sidbin
    sidbin=$(sid_docker_bin "$root")
    for tool in dockerd docker-proxy runc; do ln -sfn "$(readlink -f "$sidbin/$tool")" "$bin/$tool"; done
  fi
  "$bin/dockerd" --version >/dev/null 2>&1 || sdie "dockerd does not run here"
  echo "$bin"
}

swarm_sock() { echo "$SWARM_RUN/n$1/docker.sock"; }

swarm_hub_up() {
  [ -e "/run/netns/$SWARM_HUB" ] || ip netns add "$SWARM_HUB"
  ip -n "$SWARM_HUB" link set lo up
  ip -n "$SWARM_HUB" link show br0 >/dev/null 2>&1 || {
    ip -n "$SWARM_HUB" link add br0 type bridge
    ip -n "$SWARM_HUB" addr add "$SWARM_NET.254/24" dev br0
    ip -n "$SWARM_HUB" link set br0 up
  }
}

swarm_ip() { echo "$SWARM_NET.$1"; }

# Start node I's engine (not yet in the Swarm), its namespace and veth first if missing.
swarm_engine_up() {
  local i=$1 ns=dxs-n$1
  if ping_socket "$(swarm_sock "$i")"; then return; fi
  if [ ! -e "/run/netns/$ns" ]; then
    swarm_engine_down "$i" 2>/dev/null
    swarm_hub_up
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add "dxs-n$i-h" netns "$SWARM_HUB" type veth peer name eth0 netns "$ns"
    ip -n "$SWARM_HUB" link set "dxs-n$i-h" master br0 up
    ip -n "$ns" addr add "$(swarm_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$SWARM_NET.254"
  fi
  swarm_engine_start "$i"
}

swarm_engine_start() {
  local i=$1 run=$SWARM_RUN/n$1 data=$SWARM_DATA/n$1 ns=dxs-n$1 bin sock
  sock=$(swarm_sock "$i")
  bin=$(swarm_bin)
  mkdir -p "$run" "$data"
  # iptables stay on: they are the node's namespace's own, and overlay networks need them.
  cat >"$run/daemon.json" <<EOF
{ "log-level": "info", "ip-masq": false, "userland-proxy": false,
  "default-address-pools": [{"base": "10.252.0.0/16", "size": 24}] }
EOF
  ssay "starting node $i: $("$bin/dockerd" --version) (log: $run/dockerd.log)"
  # The bind mount of the node's socket over /var/run/docker.sock is made in the node's
  # private mount namespace once dockerd has created the socket (it unlinks and recreates
  # its socket path, so the mount cannot come first).
  PATH=$bin:$PATH setsid nohup nsenter --net="/run/netns/$ns" -- \
    unshare --mount --uts --propagation private -- sh -c '
      hostname "$0"
      exec "$1/dockerd" --host "unix://$2" --data-root "$3" --exec-root "$4/exec" \
        --pidfile "$4/docker.pid" --config-file "$4/daemon.json" \
        --containerd-namespace "$0" --containerd-plugins-namespace "$0-plugins" \
        --shutdown-timeout 5' \
      "swarm-n$i" "$bin" "$sock" "$data" "$run" >>"$run/dockerd.log" 2>&1 </dev/null &
  wait_socket "$sock" "$run/dockerd.log" $!
  local pid
  pid=$(cat "$run/docker.pid")
  nsenter --mount="/proc/$pid/ns/mnt" -- mount --bind "$sock" /var/run/docker.sock \
    || sdie "could not bind node $i's socket in its mount namespace"
  import_busybox "unix://$sock"
}

# Stop node I's engine and start it again in the same namespaces (its Swarm state kept).
swarm_node_restart() {
  local i=$1 run=$SWARM_RUN/n$1
  stop_pidfile "$run/docker.pid" "$run"
  stop_pidfile "$run/exec/containerd/containerd.pid" "$run"
  swarm_engine_start "$i"
}

swarm_engine_down() {
  local i=$1 run=$SWARM_RUN/n$1 data=$SWARM_DATA/n$1
  stop_pidfile "$run/docker.pid" "$run"
  stop_pidfile "$run/exec/containerd/containerd.pid" "$run"
  unmount_under "$run" "$data"
  ip -n "$SWARM_HUB" link del "dxs-n$i-h" 2>/dev/null || true
  [ -e "/run/netns/dxs-n$i" ] && ip netns delete "dxs-n$i"
  return 0
}

sdocker() { local i=$1; shift; docker -H "unix://$(swarm_sock "$i")" "$@"; }

swarm_state() { sdocker "$1" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null; }

# Load the images the Swarm runs (built on the machine's default engine) into node I.
swarm_load_images() {
  local i=$1 image
  for image in ${SWARM_IMAGES:-}; do
    if ! sdocker "$i" image inspect "$image" >/dev/null 2>&1; then
      ssay "loading $image into node $i"
      docker save "$image" | sdocker "$i" load >/dev/null || sdie "could not load $image into node $i"
    fi
  done
}

swarm_node_up() {
  local i=$1
  swarm_engine_up "$i"
  swarm_load_images "$i"
  [ "$(swarm_state "$i")" = active ] && return
  if [ "$i" = 1 ]; then
    sdocker 1 swarm init --advertise-addr "$(swarm_ip 1)" >/dev/null || sdie "swarm init failed"
  else
    [ "$(swarm_state 1)" = active ] || sdie "node 1 (the manager) is not in a Swarm"
    local token
    token=$(sdocker 1 swarm join-token -q worker)
    sdocker "$i" swarm join --advertise-addr "$(swarm_ip "$i")" --token "$token" \
      "$(swarm_ip 1):2377" >/dev/null || sdie "node $i could not join"
  fi
}

swarm_node_rm() {
  local i=$1 id
  id=$(sdocker "$i" info --format '{{.Swarm.NodeID}}' 2>/dev/null)
  if [ -n "$id" ]; then
    sdocker 1 node update --availability drain "$id" >/dev/null || true
    sdocker "$i" swarm leave --force >/dev/null 2>&1 || true
  fi
  swarm_engine_down "$i"
  [ -z "$id" ] || sdocker 1 node rm --force "$id" >/dev/null 2>&1 || true
  rm -rf "${SWARM_DATA:?}/n$i" "${SWARM_RUN:?}/n$i"
  # The last node gone: the hub and the state directories go too.
  compgen -G "/run/netns/dxs-n*" >/dev/null || swarm_down
}

swarm_up() {
  local n=${1:-3} i
  [ "$n" -ge 1 ] 2>/dev/null || { echo "usage: --swarm N (N >= 1)" >&2; exit 2; }
  for i in $(seq 1 "$n"); do swarm_node_up "$i"; done
  echo "SWARM_HUB=$SWARM_HUB"
  echo "SWARM_MANAGER_HOST=unix://$(swarm_sock 1)"
}

swarm_down() {
  local dir i
  for dir in "$SWARM_RUN"/n*; do
    [ -d "$dir" ] || continue
    i=${dir##*/n}
    sdocker "$i" swarm leave --force >/dev/null 2>&1 || true
    local ids
    ids=$(sdocker "$i" ps -aq 2>/dev/null)
    [ -z "$ids" ] || sdocker "$i" rm -f $ids >/dev/null 2>&1 || true
    swarm_engine_down "$i"
  done
  for ns in /run/netns/dxs-n*; do [ -e "$ns" ] && ip netns delete "${ns##*/}"; done
  [ -e "/run/netns/$SWARM_HUB" ] && ip netns delete "$SWARM_HUB"
  rm -rf "$SWARM_RUN" "$SWARM_DATA"
  return 0
}
