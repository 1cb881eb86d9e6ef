#!/bin/bash
# Hosts for tests: N "hosts" on this machine, each a network namespace with its
# own hostname (UTS namespace), PID namespace, IPC namespace and /dev/shm, one
# end of a veth pair inside (named cu0, a link-local address 169.254.S.i/24)
# and the other end on a bridge this script creates (169.254.S.254/24). The
# file system is shared: every host sees the same cluster directory. MPICH's
# Hydra reaches the hosts as it reaches real ones over ssh, through a launcher
# wrapper (`mpiexec.mpich -launcher ssh -launcher-exec WRAPPER -iface BRIDGE
# -f HOSTS`): the wrapper maps a host name to its namespaces (nsenter into the
# host's init) and runs the command there with the host's environment
# (CURATOR_NODE=i: host i runs node i).
#
# usage (the state lives in $HOSTS_STATE, default $TMPDIR/curator-hosts):
#   hosts.sh up N             make hosts h1..hN; prints "skip: <why>" and exits
#                             77 where namespaces cannot be made
#   hosts.sh down             remove everything `up` made (idempotent)
#   hosts.sh exec HOST CMD..  run CMD on HOST (its namespaces and environment)
#   hosts.sh kill HOST        SIGKILL every process of HOST (its PID namespace's
#                             init: the kernel kills the rest); the host is gone
#   hosts.sh reap             SIGKILL every process of every host but its init
#   hosts.sh restart HOST     HOST comes back after `kill` (a new init: an empty
#                             PID namespace, the same network namespace)
#   hosts.sh mpiexec [ARGS]   mpiexec.mpich across the hosts (Hydra through the
#                             wrapper, -iface the bridge, -f the hosts file)
#   hosts.sh hostfile         the path of the hosts file (h1..hN, one a line)
#   hosts.sh pids HOST        host-side pids of every live process of HOST (its init first)
#
# A test sources nothing: it calls `up`, sets `trap '... down' EXIT`, and uses
# `mpiexec`/`exec`. `up` itself cleans up what it made when it fails half way.
set -u
state=${HOSTS_STATE:-${TMPDIR:-/tmp}/curator-hosts}
self=$(readlink -f "$0")

die() { echo "hosts: $*" >&2; exit 2; }
skip() { echo "skip: hosts: $*"; exit 77; }

# --- the pieces -------------------------------------------------------------
host_pid() { # the host-side pid of HOST's init (pid 1 in its PID namespace)
	local f="$state/$1.pid"
	[ -r "$f" ] || die "$1: no such host (hosts.sh up first)"
	cat "$f"
}

# run "$@" inside host $1 (net, uts, ipc, pid, mount namespaces of its init)
in_host() {
	local h=$1; shift
	local pid; pid=$(host_pid "$h")
	[ -e "/proc/$pid" ] || die "$h: host is down"
	# the host's environment: its node, and UCX on the host's own interface
	# (loopback is not a way to another host)
	nsenter -t "$pid" --net --uts --ipc --pid --mount --wd="$PWD" -- \
		env CURATOR_NODE="${h#h}" UCX_NET_DEVICES=cu0 HOSTS_HOST="$h" "$@"
}

# start host $1's init in network namespace $2: pid 1 of a new PID namespace,
# with its own hostname, IPC namespace, /proc and /dev/shm (ranks of two hosts
# share no memory). 0, or 1 with the reason in $REPLY.
start_init() {
	local i=$1 ns=$2 pid="" holder
	ip netns exec "$ns" unshare --uts --ipc --pid --mount --fork --mount-proc --propagation private \
		/bin/sh -c "hostname h$i && mount -t tmpfs -o size=1g tmpfs /dev/shm && exec sleep infinity" \
		</dev/null >/dev/null 2>"$state/h$i.err" &
	holder=$!
	echo "$holder" > "$state/h$i.holder"
	for _ in $(seq 1 100); do
		pid=$(cat "/proc/$holder/task/"*/children 2>/dev/null | awk '{print $1}')
		[ -n "$pid" ] && grep -q sleep "/proc/$pid/cmdline" 2>/dev/null && break
		pid=""
		sleep 0.05
	done
	if [ -z "$pid" ]; then
		REPLY=$(head -1 "$state/h$i.err" 2>/dev/null)
		REPLY=${REPLY:-timed out}
		return 1
	fi
	echo "$pid" > "$state/h$i.pid"
}

cmd_restart() { # host $1 comes back (after kill): a new init in the same network namespace
	local h=$1 pid
	pid=$(host_pid "$h")
	[ -e "/proc/$pid" ] && die "restart: $h is up"
	# shellcheck disable=SC1091
	. "$state/names"
	start_init "${h#h}" "cu$ID-$h" || die "restart: $h: $REPLY"
}

cmd_down() {
	[ -d "$state" ] || return 0
	local f pid
	for f in "$state"/h*.pid; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		[ -e "/proc/$pid" ] && kill -9 "$pid" 2>/dev/null
	done
	for f in "$state"/h*.holder; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		[ -e "/proc/$pid" ] && kill -9 "$pid" 2>/dev/null
	done
	if [ -r "$state/names" ]; then
		local ns br
		# shellcheck disable=SC1091
		. "$state/names"
		for ns in $NETNS; do ip netns del "$ns" 2>/dev/null; done
		ip link del "$BRIDGE" 2>/dev/null
	fi
	rm -rf "$state"
}

cmd_up() {
	local n=$1 id s i ns br
	case "$n" in '' | *[!0-9]*) die "up: N must be a number" ;; esac
	[ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "up: N must be 1..200"
	[ "$(id -u)" = 0 ] || skip "not root (network namespaces need CAP_SYS_ADMIN)"
	for c in ip nsenter unshare mpiexec.mpich; do
		command -v "$c" >/dev/null || skip "$c not installed"
	done
	[ -e "$state/names" ] && die "up: $state holds hosts already (hosts.sh down first)"
	mkdir -p "$state" || die "up: cannot make $state"
	# unique names and a free /24: several test runs may share this machine
	for _ in 1 2 3 4 5 6 7 8; do
		id=$(printf '%04x' $((RANDOM % 65536)))
		s=$((RANDOM % 250 + 2))
		ip link show "cubr$id" >/dev/null 2>&1 && continue
		ip -4 addr show 2>/dev/null | grep -q "inet 169\.254\.$s\." && continue
		break
	done
	br=cubr$id
	NETNS=""
	for i in $(seq 1 "$n"); do NETNS="$NETNS cu$id-h$i"; done
	printf 'BRIDGE=%s\nNETNS="%s"\nSUBNET=169.254.%s\nID=%s\n' "$br" "$NETNS" "$s" "$id" > "$state/names"
	if ! ip link add "$br" type bridge 2>"$state/err"; then
		cmd_down; skip "cannot make a bridge: $(head -1 "$state/err" 2>/dev/null)"
	fi
	ip addr add "169.254.$s.254/24" dev "$br" && ip link set "$br" up || { cmd_down; die "up: bridge $br"; }
	: > "$state/hostfile"
	for i in $(seq 1 "$n"); do
		ns=cu$id-h$i
		if ! ip netns add "$ns" 2>"$state/err"; then
			local why; why=$(head -1 "$state/err")
			cmd_down; skip "cannot make a network namespace: $why"
		fi
		ip link add "cuv${id}h$i" type veth peer name cu0 netns "$ns" &&
		ip link set "cuv${id}h$i" master "$br" up &&
		ip -n "$ns" link set lo up &&
		ip -n "$ns" addr add "169.254.$s.$i/24" dev cu0 &&
		ip -n "$ns" link set cu0 up || { cmd_down; die "up: veth of h$i"; }
		start_init "$i" "$ns" || { local why=$REPLY; cmd_down; skip "cannot make the namespaces of a host: $why"; }
		echo "h$i" >> "$state/hostfile"
	done
	# the launcher wrapper Hydra runs instead of ssh: WRAPPER [-x ...] HOST CMD...
	cat > "$state/launch" <<EOF
#!/bin/sh
# Hydra's "ssh": skip its options, map the host name to its namespaces, and run
# the command line as ssh would (one string for the shell)
while [ \$# -gt 0 ]; do case "\$1" in -*) shift ;; *) break ;; esac; done
h=\$1; shift
HOSTS_STATE='$state' exec '$self' exec "\$h" /bin/sh -c "\$*"
EOF
	chmod +x "$state/launch"
	echo "$br" > "$state/bridge"
}

cmd_mpiexec() {
	[ -r "$state/names" ] || die "mpiexec: no hosts (hosts.sh up first)"
	# the hosts' nodes come from the launch (the wrapper), not from here
	exec env -u CURATOR_NODE mpiexec.mpich -launcher ssh -launcher-exec "$state/launch" \
		-iface "$(cat "$state/bridge")" -f "$state/hostfile" "$@"
}

cmd_pids() {
	local pid; pid=$(host_pid "$1")
	[ -e "/proc/$pid" ] || return 0
	# every live process whose PID namespace is the host's (not zombies: the
	# host's init is `sleep`, which reaps no orphan; they go with the host)
	local ns st; ns=$(readlink "/proc/$pid/ns/pid")
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$ns" ] || continue
		st=$(sed -E 's/^.*\) (.).*/\1/' "$p/stat" 2>/dev/null)
		[ -n "$st" ] && [ "$st" != Z ] && echo "${p#/proc/}"
	done
}

case "${1:-}" in
up) cmd_up "${2:-}" ;;
down) cmd_down ;;
exec) [ $# -ge 3 ] || die "usage: hosts.sh exec HOST CMD..."; h=$2; shift 2; in_host "$h" "$@" ;;
kill) [ $# -eq 2 ] || die "usage: hosts.sh kill HOST"; kill -9 "$(host_pid "$2")" ;;
reap) for f in "$state"/h*.pid; do # every process of every host but its init
	[ -e "$f" ] || continue; h=${f##*/}; h=${h%.pid}
	for p in $(cmd_pids "$h"); do [ "$p" != "$(cat "$f")" ] && kill -9 "$p" 2>/dev/null; done
done; true ;;
restart) [ $# -eq 2 ] || die "usage: hosts.sh restart HOST"; cmd_restart "$2" ;;
mpiexec) shift; cmd_mpiexec "$@" ;;
hostfile) echo "$state/hostfile" ;;
pids) [ $# -eq 2 ] || die "usage: hosts.sh pids HOST"; cmd_pids "$2" ;;
*) echo "usage: hosts.sh up N | down | exec HOST CMD... | kill HOST | restart HOST | mpiexec ARGS... | hostfile | pids HOST" >&2; exit 2 ;;
esac
