#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The exec: transport over a real OpenSSH: an sshd started here on a loopback port
# with a throwaway host key and user key, then
#   vfiomig save SRC... --to 'exec:ssh ... USER@127.0.0.1 vfiomig restore DST... --from -'
# migrates simulated devices (the destination checks the data), and an ssh that fails
# (a key the server does not know, a host key we do not know) fails the save with a
# sentence that has ssh's exit status, the devices running again.  Skips (with the
# reason) without openssh-server/openssh-client.  TAP on stdout.
set -u
VFIOMIG=${1:?usage: test-exec-ssh.sh PATH-TO-vfiomig}
SSHD=/usr/sbin/sshd
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
[ -x "$SSHD" ] || skip_all "no $SSHD (openssh-server: tests/install-deps.sh)"
command -v ssh >/dev/null && command -v ssh-keygen >/dev/null ||
	skip_all "no ssh or ssh-keygen (openssh-client: tests/install-deps.sh)"
command -v timeout >/dev/null || skip_all "no timeout(1)"
. "$(dirname "$0")/../tap.sh"

tmp=$(mktemp -d)
sshd_pid=
cleanup() {
	[ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null && wait "$sshd_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

user=$(id -un)
# As root, sshd wants its privilege separation directory (Debian's unit makes it).
if [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then
	mkdir -p -m 0755 /run/sshd || skip_all "cannot create /run/sshd"
fi

ssh-keygen -q -t ed25519 -N '' -C vfiomig-test-host -f "$tmp/host_key" || skip_all "ssh-keygen failed"
ssh-keygen -q -t ed25519 -N '' -C vfiomig-test-user -f "$tmp/user_key" || skip_all "ssh-keygen failed"
ssh-keygen -q -t ed25519 -N '' -C vfiomig-test-stranger -f "$tmp/stranger_key" || skip_all "ssh-keygen failed"
ssh-keygen -q -t ed25519 -N '' -C vfiomig-test-other-host -f "$tmp/other_host_key" || skip_all "ssh-keygen failed"
cp "$tmp/user_key.pub" "$tmp/authorized_keys"

# start_sshd PORT: 0 once it listens, 1 if it exited (port taken...), within 10 s
start_sshd() {
	cat >"$tmp/sshd_config" <<-EOF
		Port $1
		ListenAddress 127.0.0.1
		HostKey $tmp/host_key
		PidFile $tmp/sshd.pid
		AuthorizedKeysFile $tmp/authorized_keys
		StrictModes no
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		PermitRootLogin prohibit-password
		UsePAM no
		PrintMotd no
		LoginGraceTime 20
	EOF
	: >"$tmp/sshd.log"
	"$SSHD" -D -e -f "$tmp/sshd_config" 2>"$tmp/sshd.log" &
	sshd_pid=$!
	for _ in $(seq 100); do
		grep -q "Server listening on 127.0.0.1 port $1" "$tmp/sshd.log" && return 0
		kill -0 "$sshd_pid" 2>/dev/null || { wait "$sshd_pid"; sshd_pid=; return 1; }
		sleep 0.1
	done
	kill "$sshd_pid"; wait "$sshd_pid"; sshd_pid=
	return 1
}
port=
for _ in 1 2 3 4 5; do
	p=$((20000 + RANDOM % 40000))
	if start_sshd "$p"; then port=$p; break; fi
done
[ -n "$port" ] || skip_all "sshd would not start: $(tail -3 "$tmp/sshd.log" | tr '\n' ' ')"

echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$tmp/host_key.pub")" >"$tmp/known_hosts"
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$tmp/other_host_key.pub")" >"$tmp/wrong_known_hosts"

# ssh_cmd KEY KNOWN_HOSTS: the ssh command line, nothing from ~/.ssh or /etc/ssh
ssh_cmd() {
	echo "ssh -F /dev/null -i $1 -o IdentitiesOnly=yes -o BatchMode=yes" \
		"-o UserKnownHostsFile=$2 -o GlobalKnownHostsFile=/dev/null" \
		"-o StrictHostKeyChecking=yes -o ConnectTimeout=10 -p $port $user@127.0.0.1"
}
SRC="sim:a,seed=101,size=3M sim:b,seed=102,size=100K"
DST="sim:x,size=3M,expect-seed=101 sim:y,size=100K,expect-seed=102"
# absolute: the command runs elsewhere (another cwd, through ssh)
V=$(printf '%q' "$(cd "$(dirname "$VFIOMIG")" && pwd)/$(basename "$VFIOMIG")")
T() { timeout -k 5 60 "$@"; }

# the migration, through sshd: the restore's report comes back on ssh's stderr
T "$VFIOMIG" save $SRC --to "exec:$(ssh_cmd "$tmp/user_key" "$tmp/known_hosts") $V restore $DST --from -" \
	>"$tmp/s.out" 2>"$tmp/s.err"
rc=$?
if [ $rc = 0 ] && grep -q "^saved 2 devices to exec:ssh " "$tmp/s.out" && grep -q "^restored 2 devices from -" "$tmp/s.err"; then
	ok "save --to 'exec:ssh ... vfiomig restore ... --from -' through a real sshd"
else
	nok "migration over ssh" "exit $rc" "stdout: $(cat "$tmp/s.out")" "stderr: $(cat "$tmp/s.err")" \
		"sshd: $(tail -5 "$tmp/sshd.log")"
fi

# a key the server does not know: ssh says why, exits 255, the devices run again
T "$VFIOMIG" save $SRC --to "exec:$(ssh_cmd "$tmp/stranger_key" "$tmp/known_hosts") $V restore $DST --from -" \
	>"$tmp/s.out" 2>"$tmp/s.err"
rc=$?
if [ $rc = 1 ] && grep -q "Permission denied" "$tmp/s.err" &&
	grep -q "save failed in phase .*the command exited with 255 (the devices are running again)" "$tmp/s.err"; then
	ok "a key sshd does not accept: 'Permission denied', exit 255 named, devices running again"
else
	nok "wrong key" "exit $rc" "stdout: $(cat "$tmp/s.out")" "stderr: $(cat "$tmp/s.err")"
fi

# a host key that is not the one we know
T "$VFIOMIG" save $SRC --to "exec:$(ssh_cmd "$tmp/user_key" "$tmp/wrong_known_hosts") $V restore $DST --from -" \
	>"$tmp/s.out" 2>"$tmp/s.err"
rc=$?
if [ $rc = 1 ] && grep -q "Host key verification failed" "$tmp/s.err" &&
	grep -q "the command exited with 255 (the devices are running again)" "$tmp/s.err"; then
	ok "an unknown host key: 'Host key verification failed', exit 255 named, devices running again"
else
	nok "wrong host key" "exit $rc" "stdout: $(cat "$tmp/s.out")" "stderr: $(cat "$tmp/s.err")"
fi

# the destination refuses the data: its reason crosses ssh back to the source
T "$VFIOMIG" save $SRC --to "exec:$(ssh_cmd "$tmp/user_key" "$tmp/known_hosts") $V restore sim:x,size=3M,expect-seed=999 sim:y,size=100K --from -" \
	>"$tmp/s.out" 2>"$tmp/s.err"
rc=$?
if [ $rc = 1 ] && grep -q "failed to load device 0 (sim:a here)" "$tmp/s.err" && grep -q "running again" "$tmp/s.err"; then
	ok "the destination's refusal crosses ssh: the source runs its devices again"
else
	nok "refusal over ssh" "exit $rc" "stdout: $(cat "$tmp/s.out")" "stderr: $(cat "$tmp/s.err")"
fi

tap_end
