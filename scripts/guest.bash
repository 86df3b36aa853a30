# The guest leg for scripts/testbed (sourced): a Debian 12 guest with systemd on cgroup v2 and
# Docker on the systemd cgroup driver, the world most users run the exporter in.
#
#   guest_up     build the image if it is missing or stale (cached in $GUEST_CACHE), start it
#                (idempotent: a running guest is reused), wait for sshd and dockerd, install
#                the current tree (guest_install), print GUEST_ACCEL=, GUEST_SSH_PORT=,
#                GUEST_METRICS_URL=, DOCKER_HOST= (the guest's engine over its port forward)
#   guest_down   stop the guest (its disk is a throwaway snapshot of the cached image)
#
# The image: debootstrap (bookworm: systemd, docker.io, busybox-static, python3, openssh-server,
# linux-image-amd64) into a directory, Docker 29 put over it (guest_engine_install: the shared
# dockerd 29.7.2 and runc 1.3.6, sid's containerd 2.x; Debian 12's 20.10 if the build is missing), `mkfs.ext4 -d` (no loop mount), then one provisioning
# boot that imports busybox:local and installs the project's dependencies from wheels built on
# this machine (the guest reaches no registry). qemu runs with -enable-kvm (or, where this
# machine's KVM cannot boot a stock kernel, qemu's TCG emulation: guest_accel), the kernel and
# initrd of the guest's own linux-image-amd64, user networking with restrict=on (no outside
# network) and loopback-only port forwards: ssh (commands, files), the exporter's port and the
# guest's Docker API (the host-side scrape test drives containers through it). After the first
# boot the running guest's state is saved (guest_save_state); later starts restore it.

GUEST_CACHE=${GUEST_CACHE:-/var/cache/docker-exporter-guest}
GUEST_RUN=${GUEST_RUN:-/run/docker-exporter-guest}
GUEST_SSH_PORT=${GUEST_SSH_PORT:-42022}
GUEST_METRICS_PORT=${GUEST_METRICS_PORT:-42417}
GUEST_DOCKER_PORT=${GUEST_DOCKER_PORT:-42375}
GUEST_MEMORY=${GUEST_MEMORY:-2048}
GUEST_CPUS=${GUEST_CPUS:-2}
# kvm: hardware virtualisation (-enable-kvm -cpu host); tcg: qemu's software emulation (same
# guest, several times slower); auto: kvm when this machine's KVM can boot a stock Debian
# kernel, else tcg, said loudly; kvm-only: no fallback (the leg cannot run without KVM).
GUEST_ACCEL=${GUEST_ACCEL:-auto}
GUEST_IMAGE=$GUEST_CACHE/image
GUEST_VENV=${GUEST_VENV:-$ROOT/.venv}  # the host's venv (scripts/testbed): pip wheel, the unit test
GUEST_PACKAGES=(systemd systemd-sysv udev dbus kmod linux-image-amd64 initramfs-tools
                docker.io busybox-static python3 python3-venv openssh-server iproute2
                procps curl ca-certificates)
GUEST_APPEND="root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=1 apparmor=0 \
systemd.show_status=1 net.ifnames=0 mitigations=off quiet loglevel=4"

gsay() { echo "testbed: guest: $*" >&2; }
gdie() { echo "testbed: GUEST CANNOT RUN: $*" >&2; exit 3; }

# ssh to the guest (root, the cached key, no host key bookkeeping).
guest_ssh() {
  ssh -q -i "${GUEST_DIR:-$GUEST_IMAGE}/id_ed25519" -p "$GUEST_SSH_PORT" -o BatchMode=yes \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 \
    -o ServerAliveInterval=15 -o LogLevel=ERROR root@127.0.0.1 "$@"
}

# The Docker 29 build (dockerd, docker-proxy, runc; its BUILD.md) the guest runs, or nothing
# when this machine has none: DXT_ENGINES_DIR, else the shared engines beside the repo (CI
# runs from a clean clone elsewhere), else /work/shared/engines.
GUEST_DOCKER29=docker-29.7.2
guest_engine_dir() {
  local base
  for base in ${DXT_ENGINES_DIR:+"$DXT_ENGINES_DIR"} "$ROOT/../shared/engines" /work/shared/engines; do
    if [ -x "$base/$GUEST_DOCKER29/dockerd" ] && [ -f "$base/$GUEST_DOCKER29/SHA256SUMS" ]; then
      (cd "$base/$GUEST_DOCKER29" && pwd); return
    fi
  done
}

# Which engine the image carries (part of its key): the Docker 29 build's checksums, or
# Debian 12's docker.io.
guest_engine_key() {
  local dir
  dir=$(guest_engine_dir)
  if [ -n "$dir" ]; then echo "$GUEST_DOCKER29 + sid containerd"; cat "$dir/SHA256SUMS"
  else echo "bookworm docker.io"; fi
}

# Docker 29 into the root filesystem $1, beside Debian 12's docker.io (which stays installed
# for its units, docker group and iptables dependencies, unused): dockerd, docker-proxy and
# runc 1.3.6 from the shared build, containerd 2.x, its shim and ctr from Debian sid (what
# the host legs fetch), sid's docker CLI if it runs on Debian 12's glibc, all in /usr/local
# (first on systemd's PATH, so dockerd finds this runc and containerd this shim), and the
# units pointed at them. Without the build: Debian 12's 20.10, said loudly.
guest_engine_install() {
  local rootfs=$1 dir sid
  dir=$(guest_engine_dir)
  if [ -z "$dir" ]; then
    echo "!!! testbed: guest: no $GUEST_DOCKER29 build (DXT_ENGINES_DIR, ../shared/engines, /work/shared/engines): the guest runs Debian 12's docker.io 20.10, NOT Docker 29" >&2
    GUEST_DOCKERD=/usr/sbin/dockerd
    return
  fi
  (cd "$dir" && sha256sum --quiet -c SHA256SUMS) || gdie "$dir: checksums do not match SHA256SUMS"
  sid=$(sid_docker_root)
  gsay "engine: $("$dir/dockerd" --version), runc $("$dir/runc" --version | head -1 | cut -d' ' -f3), sid's $("$sid/usr/bin/containerd" --version | cut -d' ' -f2-3)"
  install -m 0755 "$dir/dockerd" "$dir/docker-proxy" "$dir/runc" "$rootfs/usr/local/sbin/"
  install -m 0755 "$sid/usr/bin/containerd" "$sid/usr/bin/containerd-shim-runc-v2" "$sid/usr/bin/ctr" \
    "$rootfs/usr/local/bin/"
  install -m 0755 "$sid/usr/bin/docker" "$rootfs/usr/local/bin/docker"
  if ! chroot "$rootfs" /usr/local/bin/docker --version >/dev/null 2>&1; then
    gsay "sid's docker CLI does not run on Debian 12's glibc: the guest keeps Debian 12's docker CLI"
    rm -f "$rootfs/usr/local/bin/docker"
  fi
  chroot "$rootfs" /usr/local/sbin/runc --version >/dev/null 2>&1 || gdie "runc 1.3.6 does not run in the guest"
  chroot "$rootfs" /usr/local/bin/containerd --version >/dev/null 2>&1 || gdie "sid's containerd does not run in the guest"
  mkdir -p "$rootfs/etc/containerd"
  install -m 0644 "$sid/etc/containerd/config.toml" "$rootfs/etc/containerd/config.toml"
  mkdir -p "$rootfs/etc/systemd/system/containerd.service.d"
  printf '[Service]\nExecStart=\nExecStart=/usr/local/bin/containerd\n' \
    >"$rootfs/etc/systemd/system/containerd.service.d/sid.conf"
  GUEST_DOCKERD=/usr/local/sbin/dockerd
}

# What the image is built from: a change to any of it rebuilds the image.
guest_image_key() {
  { printf '%s\n' "${GUEST_PACKAGES[@]}" "$GUEST_APPEND"
    guest_engine_key
    declare -f guest_build_rootfs guest_engine_install guest_provision_script
    sed -n '/^dependencies = \[/,/^\]/p; /^test = \[/,/^\]/p' "$ROOT/pyproject.toml"
  } | sha256sum | cut -c1-16
}

# Why this machine's KVM cannot run the guest, or nothing when it can.
guest_kvm_problem() {
  [ -c /dev/kvm ] || { echo "no /dev/kvm on this machine"; return; }
  [ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "/dev/kvm is not readable and writable by $(id -un)"; return; }
  python3 - <<'PY' || { echo "/dev/kvm does not answer KVM_GET_API_VERSION 12"; return; }
import fcntl, os, sys
fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
sys.exit(0 if fcntl.ioctl(fd, 0xAE00) == 12 else 1)  # KVM_GET_API_VERSION
PY
  # PVM (pagetable-based virtual machine, kvm_pvm), the KVM of some cloud VMs without nested
  # VMX/SVM, answers the same ioctls but boots only kernels built as PVM guests: Debian's
  # stock kernel hangs right after its real-mode setup ("Probing EDD").
  if [ -d /sys/module/kvm_pvm ] && [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ]; then
    echo "/dev/kvm here is PVM (kvm_pvm, no kvm_intel or kvm_amd): it boots only PVM guest kernels, not Debian's linux-image-amd64"
  fi
}

# Sets GUEST_QEMU_ACCEL (qemu's flags) from GUEST_ACCEL, or explains why the leg cannot run.
guest_accel() {
  local problem=""
  [ "$GUEST_ACCEL" = tcg ] || problem=$(guest_kvm_problem)
  case "$GUEST_ACCEL" in
    kvm|kvm-only)
      [ -z "$problem" ] || gdie "KVM is unavailable: $problem" ;;
    auto)
      if [ -n "$problem" ]; then
        echo "!!! testbed: guest: KVM is unavailable ($problem)" >&2
        echo "!!! testbed: guest: falling back to qemu's software emulation (TCG): the same guest, slower; GUEST_ACCEL=kvm-only skips instead" >&2
      fi ;;
    tcg) ;;
    *) gdie "GUEST_ACCEL=$GUEST_ACCEL: expected auto, kvm, kvm-only or tcg" ;;
  esac
  if [ "$GUEST_ACCEL" = tcg ] || [ -n "$problem" ]; then
    GUEST_ACCEL_USED=tcg
    GUEST_QEMU_ACCEL=(-machine q35 -accel tcg,thread=multi,tb-size=256 -cpu max)
  else
    GUEST_ACCEL_USED=kvm
    # -cpu host without IA32_ARCH_CAPABILITIES: under nested KVM setting that MSR can fail
    # and abort qemu ("failed to set MSR 0x10a").
    GUEST_QEMU_ACCEL=(-machine q35,accel=kvm -enable-kvm -cpu host,-arch-capabilities)
  fi
}

guest_tools() {
  local need=()
  command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v ssh >/dev/null || need+=(openssh-client)
  command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
  if [ ${#need[@]} -gt 0 ]; then
    gsay "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
      >/dev/null || gdie "apt-get install ${need[*]} failed"
  fi
}

# debootstrap and configure the root filesystem in $1 (files written, nothing run in it).
guest_build_rootfs() {
  local rootfs=$1 key=$2
  local include
  include=$(IFS=,; echo "${GUEST_PACKAGES[*]}")
  gsay "debootstrap bookworm (${GUEST_PACKAGES[*]}) from $(debian_mirror)"
  debootstrap --variant=minbase --include="$include" bookworm "$rootfs" "$(debian_mirror)" \
    >"$GUEST_CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$GUEST_CACHE/debootstrap.log" >&2; gdie "debootstrap failed (log: $GUEST_CACHE/debootstrap.log)"; }
  unmount_under "$rootfs"
  echo dxt-guest >"$rootfs/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 dxt-guest\n' >"$rootfs/etc/hosts"
  echo '/dev/vda / ext4 defaults,noatime 0 1' >"$rootfs/etc/fstab"
  # Static address on qemu's user network (no DHCP wait); no DNS: the guest reaches nothing.
  cat >"$rootfs/etc/systemd/network/10-eth0.network" <<'EOF'
[Match]
Name=eth0
[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
EOF
  : >"$rootfs/etc/resolv.conf"
  ln -sfn /lib/systemd/system/systemd-networkd.service \
    "$rootfs/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
  mkdir -p "$rootfs/etc/systemd/system/sockets.target.wants" "$rootfs/etc/systemd/system/network-online.target.wants"
  ln -sfn /lib/systemd/system/systemd-networkd.socket \
    "$rootfs/etc/systemd/system/sockets.target.wants/systemd-networkd.socket"
  ln -sfn /lib/systemd/system/systemd-networkd-wait-online.service \
    "$rootfs/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service"
  # Nothing periodic or interactive that could run in the middle of a leg or slow the boot.
  for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
              dpkg-db-backup.timer e2scrub_reap.service systemd-timesyncd.service \
              getty@tty1.service; do
    ln -sfn /dev/null "$rootfs/etc/systemd/system/$unit"
  done
  guest_engine_install "$rootfs"
  mkdir -p "$rootfs/etc/docker"
  # Docker's default on cgroup v2 is the systemd driver; say so, it is what the leg tests.
  cat >"$rootfs/etc/docker/daemon.json" <<'EOF'
{ "exec-opts": ["native.cgroupdriver=systemd"], "log-level": "warn" }
EOF
  # The guest's Docker API on its port 2375, reachable only through the loopback forward.
  mkdir -p "$rootfs/etc/systemd/system/docker.service.d"
  cat >"$rootfs/etc/systemd/system/docker.service.d/tcp.conf" <<EOF
[Service]
ExecStart=
ExecStart=$GUEST_DOCKERD -H fd:// -H tcp://10.0.2.15:2375 --tls=false --containerd=/run/containerd/containerd.sock
EOF
  mkdir -p "$rootfs/root/.ssh" && chmod 700 "$rootfs/root/.ssh"
  cp "$GUEST_IMAGE.tmp/id_ed25519.pub" "$rootfs/root/.ssh/authorized_keys"
  printf 'PermitRootLogin prohibit-password\nUseDNS no\nPasswordAuthentication no\n' \
    >"$rootfs/etc/ssh/sshd_config.d/dxt.conf"
  # A small initrd (the default takes most modules: 37 MB to unpack at every boot): the
  # disk and its filesystem only.
  printf 'MODULES=list\nCOMPRESS=gzip\n' >"$rootfs/etc/initramfs-tools/conf.d/dxt-guest"
  printf '%s\n' virtio_pci virtio_blk ext4 >"$rootfs/etc/initramfs-tools/modules"
  local rc=0
  mount -t proc proc "$rootfs/proc"
  chroot "$rootfs" update-initramfs -u -k all >/dev/null 2>&1 || rc=$?
  umount "$rootfs/proc"
  [ "$rc" -eq 0 ] || gdie "update-initramfs in the guest's root filesystem failed"
  echo "$key" >"$rootfs/etc/dxt-guest-image"
}

# Run in the guest on its first boot (over ssh, as root): busybox:local and the venvs.
guest_provision_script() {
  cat <<'EOF'
set -eu
for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
rootfs=$(mktemp -d)
mkdir -p "$rootfs"/bin "$rootfs"/tmp "$rootfs"/etc "$rootfs"/proc "$rootfs"/sys "$rootfs"/dev "$rootfs"/root
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"
tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/sh"]' - busybox:local >/dev/null
rm -rf "$rootfs"
# The test venv (the project itself comes from the share at each leg: only its dependencies),
# and the unit's /opt/docker-exporter (the project's wheel is installed at each leg).
python3 -m venv /opt/dxt-test
/opt/dxt-test/bin/pip install -q --no-index --find-links /opt/wheels -r /opt/wheels/test-requirements.txt
# (ensurepip once: the second venv is filled by the first one's pip, `pip --python`)
python3 -m venv --without-pip /opt/docker-exporter
/opt/dxt-test/bin/pip --python /opt/docker-exporter/bin/python install -q --no-index \
  --find-links /opt/wheels -r /opt/wheels/requirements.txt
rm -rf /opt/wheels
docker image inspect busybox:local >/dev/null
systemctl disable docker-exporter.service 2>/dev/null || true
sync
EOF
}

# The project's dependencies as wheels, built on this machine: $1/requirements.txt (the
# exporter's), $1/test-requirements.txt (what the tests import), and the wheels.
guest_wheels() {
  local dir=$1
  mkdir -p "$dir"
  python3 - "$ROOT/pyproject.toml" "$dir" <<'EOF'
import sys, tomllib, pathlib
project = tomllib.loads(pathlib.Path(sys.argv[1]).read_text())["project"]
out = pathlib.Path(sys.argv[2])
runtime = project["dependencies"]
# The leg needs no linters in the guest; what the tests import, plus the exporter's own.
tests = [d for d in project["optional-dependencies"]["test"] if not d.startswith(("mypy", "ruff", "types-"))]
(out / "requirements.txt").write_text("\n".join(runtime) + "\n")
(out / "test-requirements.txt").write_text("\n".join(runtime + tests) + "\n")
EOF
  gsay "building the dependencies' wheels on this machine (pip wheel)"
  "$GUEST_VENV/bin/pip" wheel -q --disable-pip-version-check --wheel-dir "$dir" \
    -r "$dir/test-requirements.txt" 2>&1 | { grep -v '^WARNING: Location' >&2 || true; }
  [ "${PIPESTATUS[0]}" -eq 0 ] || gdie "pip wheel of the dependencies failed"
}

# Boot the image in ${GUEST_DIR:-$GUEST_IMAGE}: guest_qemu SNAPSHOT(on|off) EXTRA...
# snapshot=on: the disk's writes go to a throwaway file, the cached image stays as built.
guest_qemu() {
  local snapshot=$1 dir=${GUEST_DIR:-$GUEST_IMAGE}; shift
  mkdir -p "$GUEST_RUN"
  rm -f "$GUEST_RUN/console.log"
  qemu-system-x86_64 -name dxt-guest "${GUEST_QEMU_ACCEL[@]}" -smp "$GUEST_CPUS" \
    -m "$GUEST_MEMORY" -nodefaults -no-user-config -display none \
    -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" -append "$GUEST_APPEND" \
    -drive "file=$dir/disk.raw,format=raw,if=virtio,cache=unsafe,snapshot=$snapshot" \
    -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$GUEST_SSH_PORT-:22,hostfwd=tcp:127.0.0.1:$GUEST_METRICS_PORT-:9417,hostfwd=tcp:127.0.0.1:$GUEST_DOCKER_PORT-:2375" \
    -device virtio-net-pci,netdev=n0 -device virtio-rng-pci \
    -serial "file:$GUEST_RUN/console.log" -pidfile "$GUEST_RUN/qemu.pid" \
    -monitor "unix:$GUEST_RUN/monitor.sock,server,nowait" -daemonize "$@" \
    || gdie "qemu did not start (ports $GUEST_SSH_PORT/$GUEST_METRICS_PORT/$GUEST_DOCKER_PORT free? KVM?)"
}

# Commands to the running qemu's human monitor, one by one, each answered before the next.
guest_monitor() {
  python3 - "$GUEST_RUN/monitor.sock" "$@" <<'PY'
import socket, sys
sock = socket.socket(socket.AF_UNIX)
sock.settimeout(600)
sock.connect(sys.argv[1])
def prompt() -> str:
    data = b""
    while not data.endswith(b"(qemu) "):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")
prompt()
for command in sys.argv[2:]:
    sock.sendall(command.encode() + b"\n")
    answer = prompt() if command != "quit" else ""
    lines = [l for l in answer.splitlines()[1:] if not l.startswith("(qemu)")]
    if lines:
        print("\n".join(lines))
PY
}

guest_running() { [ -s "$GUEST_RUN/qemu.pid" ] && ours "$(cat "$GUEST_RUN/qemu.pid")" dxt-guest; }

# Wait until sshd answers and the guest's dockerd does ($1: seconds).
guest_wait() {
  local limit=$1 start=$SECONDS
  while [ $((SECONDS - start)) -lt "$limit" ]; do
    guest_running || { tail -30 "$GUEST_RUN/console.log" >&2; gdie "qemu exited while booting (console: $GUEST_RUN/console.log)"; }
    if guest_ssh 'systemctl is-active -q docker.service && docker info >/dev/null 2>&1' 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  tail -30 "$GUEST_RUN/console.log" >&2
  gdie "the guest did not answer in ${limit} s (console: $GUEST_RUN/console.log)"
}

guest_poweroff() {
  guest_running || return 0
  local pid
  pid=$(cat "$GUEST_RUN/qemu.pid")
  guest_ssh 'systemctl poweroff' >/dev/null 2>&1 || true
  for _ in $(seq 1 120); do [ -d "/proc/$pid" ] || break; sleep 0.25; done
  if [ -d "/proc/$pid" ] && ours "$pid" dxt-guest; then
    gsay "qemu pid $pid did not power off in 30 s: SIGTERM"
    kill -TERM "$pid"
    for _ in $(seq 1 40); do [ -d "/proc/$pid" ] || break; sleep 0.25; done
  fi
  rm -f "$GUEST_RUN/qemu.pid"
}

# Build the image in $GUEST_IMAGE.tmp, resuming an interrupted build at its last finished
# step (root filesystem, disk), and move it into place only once provisioned.
guest_build() {
  local key=$1 tmp=$GUEST_IMAGE.tmp started=$SECONDS
  gsay "building the image $key in $GUEST_IMAGE (a few minutes, once)"
  [ -x "$GUEST_VENV/bin/pip" ] || gdie "no venv at $GUEST_VENV (run scripts/testbed first)"
  guest_poweroff
  local rootfs=$tmp/rootfs
  if [ "$(cat "$tmp/.disk" 2>/dev/null)" = "$key" ]; then
    gsay "reusing the disk of an interrupted build"
  else
    if [ "$(cat "$rootfs/etc/dxt-guest-image" 2>/dev/null)" = "$key" ]; then
      gsay "reusing the root filesystem of an interrupted build"
    else
      unmount_under "$tmp"
      rm -rf "$tmp" && mkdir -p "$tmp"
      ssh-keygen -q -t ed25519 -N '' -C dxt-guest -f "$tmp/id_ed25519"
      guest_build_rootfs "$rootfs" "$key"
    fi
    guest_wheels "$rootfs/opt/wheels"
    cp -L "$rootfs/vmlinuz" "$tmp/vmlinuz" && cp -L "$rootfs/initrd.img" "$tmp/initrd.img" \
      || gdie "no kernel or initrd in the guest's root filesystem"
    chmod 644 "$tmp/vmlinuz" "$tmp/initrd.img"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    rm -f "$tmp/disk.raw"
    mkfs.ext4 -q -F -L dxt-guest -d "$rootfs" "$tmp/disk.raw" 6G >/dev/null \
      || gdie "mkfs.ext4 -d failed"
    echo "$key" >"$tmp/.disk"
    rm -rf "$rootfs"
  fi
  # The provisioning boot writes into the disk itself (no snapshot).
  gsay "provisioning boot (busybox:local, venvs)"
  GUEST_DIR=$tmp guest_qemu off
  GUEST_DIR=$tmp guest_wait 900
  guest_provision_script | GUEST_DIR=$tmp guest_ssh 'bash -s' >&2 \
    || { GUEST_DIR=$tmp guest_poweroff; gdie "provisioning failed"; }
  GUEST_DIR=$tmp guest_poweroff
  echo "$key" >"$tmp/.complete"
  rm -rf "$GUEST_IMAGE" && mv "$tmp" "$GUEST_IMAGE"
  gsay "image $key built in $((SECONDS - started)) s"
}

# The current tree into the running guest, at each --guest: its files in /root/repo (what the
# in-guest tests run from), its wheel in /opt/docker-exporter, and the unit installed from
# deploy/systemd the way its header says, enabled and (re)started.
guest_install() {
  local wheels
  wheels=$(mktemp -d)
  "$GUEST_VENV/bin/pip" wheel -q --disable-pip-version-check --no-deps --wheel-dir "$wheels" "$ROOT" \
    2>&1 | { grep -v '^WARNING: Location' >&2 || true; }
  [ "${PIPESTATUS[0]}" -eq 0 ] || gdie "pip wheel of the project failed"
  gsay "installing $(basename "$wheels"/*.whl) and deploy/systemd/docker-exporter.service"
  { git -C "$ROOT" ls-files -co --exclude-standard -z | tar -C "$ROOT" --null -T - -c --transform 's,^,repo/,'
    tar -C "$wheels" -c --transform 's,^\.,wheel,' .
  } | guest_ssh 'set -e; rm -rf /root/repo /root/wheel; tar -C /root -x -i
    /opt/dxt-test/bin/pip --python /opt/docker-exporter/bin/python install -q --no-index --no-deps \
      --force-reinstall /root/wheel/*.whl
    cd /root/repo
    install -m 0644 deploy/systemd/docker-exporter.service /etc/systemd/system/
    install -m 0644 deploy/systemd/docker-exporter.default /etc/default/docker-exporter
    systemctl daemon-reload
    systemctl enable -q docker-exporter.service
    systemctl restart docker-exporter.service' >&2 || gdie "installing the project in the guest failed"
  rm -rf "$wheels"
}

# The booted guest's state, saved once per image and accelerator (qemu's migration to a file,
# after a boot that writes into the image itself): a later start restores it in seconds
# instead of booting (minutes under TCG). The image's disk then is exactly what that state
# expects, since every later start writes to a throwaway snapshot only.
guest_state() { echo "$GUEST_IMAGE/state-$GUEST_ACCEL_USED.gz"; }

# The saved state was taken from a stopped guest, so the restored one waits paused: continue
# it once the incoming state is loaded.
guest_resume() {
  local status
  for _ in $(seq 1 240); do
    guest_running || gdie "qemu exited while restoring the saved state (console: $GUEST_RUN/console.log)"
    status=$(guest_monitor "info status" "info migrate" 2>/dev/null || true)
    case "$status" in
      *"VM status: running"*) return 0 ;;
      *"Migration status: completed"*) guest_monitor cont >/dev/null; return 0 ;;
      *"Migration status: failed"*) gdie "restoring the saved state failed (GUEST_COLD=1 boots instead)" ;;
    esac
    sleep 0.5
  done
  gdie "the saved state did not load in 120 s"
}

guest_save_state() {
  local key=$1 state t0=$SECONDS
  state=$(guest_state)
  gsay "saving the booted state ($GUEST_ACCEL_USED) for later starts: one cold boot"
  guest_qemu off
  guest_wait "$([ "$GUEST_ACCEL_USED" = kvm ] && echo 120 || echo 900)"
  guest_ssh 'sync; echo 3 >/proc/sys/vm/drop_caches' || true
  rm -f "$state" "$state.tmp"
  guest_monitor stop "migrate \"exec:gzip -1 >$state.tmp\"" "info migrate" >"$GUEST_RUN/migrate.log"
  if grep -q '^Migration status: completed' "$GUEST_RUN/migrate.log"; then
    mv "$state.tmp" "$state"
    echo "$key" >"$state.key"
    gsay "state saved in $((SECONDS - t0)) s ($(du -h "$state" | cut -f1))"
  else
    gsay "warning: saving the state failed ($(grep -m1 'status' "$GUEST_RUN/migrate.log")): cold boots"
    rm -f "$state.tmp"
  fi
  guest_monitor quit >/dev/null 2>&1 || true
  local pid
  pid=$(cat "$GUEST_RUN/qemu.pid" 2>/dev/null || true)
  for _ in $(seq 1 40); do [ -n "$pid" ] && [ -d "/proc/$pid" ] || break; sleep 0.25; done
  rm -f "$GUEST_RUN/qemu.pid"
}

guest_up() {
  guest_tools
  guest_accel
  local key
  key=$(guest_image_key)
  if [ -n "${GUEST_REBUILD:-}" ] || [ "$(cat "$GUEST_IMAGE/.complete" 2>/dev/null)" != "$key" ]; then
    guest_build "$key"
  fi
  if guest_running && guest_ssh true 2>/dev/null; then
    gsay "reusing the running guest (qemu pid $(cat "$GUEST_RUN/qemu.pid"))"
  else
    guest_poweroff
    local t0 how=booted state
    state=$(guest_state)
    if [ "$(cat "$state.key" 2>/dev/null)" != "$key" ] && [ -z "${GUEST_COLD:-}" ]; then
      guest_save_state "$key"
    fi
    t0=$(date +%s.%N)
    if [ "$(cat "$state.key" 2>/dev/null)" = "$key" ] && [ -z "${GUEST_COLD:-}" ]; then
      how=restored
      guest_qemu on -incoming "exec:gzip -dc $state"
      guest_resume
      guest_wait 120
      # The restored clock is the saved one: set it from this machine's.
      guest_ssh "date -s @$(date +%s.%N) >/dev/null" || gdie "setting the restored guest's clock failed"
    else
      guest_qemu on
      guest_wait "$([ "$GUEST_ACCEL_USED" = kvm ] && echo 120 || echo 600)"
    fi
    gsay "$how ($GUEST_ACCEL_USED) in $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)") s (qemu start to sshd and dockerd answering; console: $GUEST_RUN/console.log)"
  fi
  guest_install
  echo "GUEST_ACCEL=$GUEST_ACCEL_USED"
  echo "GUEST_SSH_PORT=$GUEST_SSH_PORT"
  echo "GUEST_METRICS_URL=http://127.0.0.1:$GUEST_METRICS_PORT/metrics"
  echo "DOCKER_HOST=tcp://127.0.0.1:$GUEST_DOCKER_PORT"
}

guest_down() {
  guest_poweroff
  rm -rf "$GUEST_RUN"
}
