#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Network tools under lkrun against a real lkd: nc and socat piping stdin
# through lkd both ways (byte for byte), `ip` showing and changing lkd's
# links, addresses and routes (not the host's), ifreq ioctls and
# SIOCGIFCONF answered by lkd, ping as root inside lkd (an address only lkd
# has), `ss -tan` listing lkd's sockets; and with lkd absent, lkrun and the
# bare library refuse to run the program (a clear message, exit code != 0,
# nothing on the host).
source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/hijack/lib.sh"
need nc socat ip ss curl ping
start_lkd

# nc: each side sends its stdin and writes what it receives.
random_file "$tmp/a" 400000
random_file "$tmp/b" 300000
setsid "$LKRUN" nc -N -l 127.0.0.1 7101 <"$tmp/b" >"$tmp/nc_server.out" 2>"$tmp/nc_server.log" &
nc_pid=$!
bg_pids+=("$nc_pid")
wait_listen 7101
run nc -N 127.0.0.1 7101 <"$tmp/a" >"$tmp/nc_client.out" || fail "nc client failed"
wait "$nc_pid" || fail "nc server failed"
cmp "$tmp/b" "$tmp/nc_client.out" || fail "nc: server -> client bytes differ"
cmp "$tmp/a" "$tmp/nc_server.out" || fail "nc: client -> server bytes differ"
host_has_no_port 7101

# socat: stdin to a listener's stdout, then the other way round.
setsid "$LKRUN" socat -u TCP-LISTEN:7102,bind=127.0.0.1,reuseaddr STDOUT \
	>"$tmp/socat1.out" 2>"$tmp/socat1.log" &
s_pid=$!
bg_pids+=("$s_pid")
wait_listen 7102
run socat -u STDIN TCP:127.0.0.1:7102 <"$tmp/a" || fail "socat client failed"
wait "$s_pid" || fail "socat listener failed"
cmp "$tmp/a" "$tmp/socat1.out" || fail "socat: client -> listener bytes differ"
setsid "$LKRUN" socat -u STDIN TCP-LISTEN:7103,bind=127.0.0.1,reuseaddr \
	<"$tmp/b" 2>"$tmp/socat2.log" &
s_pid=$!
bg_pids+=("$s_pid")
wait_listen 7103
run socat -u TCP:127.0.0.1:7103 STDOUT >"$tmp/socat2.out" || fail "socat reader failed"
wait "$s_pid" || fail "socat sender failed"
cmp "$tmp/b" "$tmp/socat2.out" || fail "socat: listener -> client bytes differ"

# ip: lkd's links (lo and its dummy0), not the host's; changes land in lkd.
run ip -o link >"$tmp/ip_link" || fail "ip link failed"
grep -q ': lo: ' "$tmp/ip_link" || fail "ip link: no lo: $(cat "$tmp/ip_link")"
grep -q ': dummy0: ' "$tmp/ip_link" || fail "ip link: no dummy0 (lkd's): $(cat "$tmp/ip_link")"
if ip -o link | grep -q ': dummy0: '; then fail "the host has a dummy0 too; test cannot tell"; fi
host_links=$(ip -o link | awk -F': ' '{print $2}' | grep -vx lo || true)
for l in $host_links; do
	grep -q ": ${l%@*}[:@]" "$tmp/ip_link" && fail "ip link under lkrun shows the host's $l"
done
# An ifreq ioctl on a kernel socket asks lkd's kernel: SIOCGIFINDEX finds
# dummy0, which only lkd has, and SIOCGIFMTU gives lo's MTU.
ifreq='import fcntl, socket, struct, sys
s = socket.socket()
r = fcntl.ioctl(s, 0x8933, struct.pack("16si20x", sys.argv[1].encode(), 0))
print(struct.unpack("16si20x", r)[1])'
index=$(run python3 -c "$ifreq" dummy0) || fail "SIOCGIFINDEX dummy0 under lkrun failed: $index"
[ "$index" -gt 1 ] || fail "SIOCGIFINDEX dummy0 under lkrun gave '$index'"
run python3 -c "$ifreq" nosuch0 2>/dev/null && fail "SIOCGIFINDEX of a missing link succeeded"
run ip link set dummy0 up || fail "ip link set up failed"
run ip addr add 10.123.0.1/24 dev dummy0 || fail "ip addr add failed"
run ip route add 10.124.0.0/16 via 10.123.0.2 || fail "ip route add failed"
run ip -o -4 addr show dev dummy0 >"$tmp/ip_addr" || fail "ip addr failed"
grep -q 'inet 10.123.0.1/24' "$tmp/ip_addr" || fail "ip addr: no 10.123.0.1: $(cat "$tmp/ip_addr")"
# SIOCGIFCONF (a struct ifconf pointing at the buffer to fill) lists lkd's
# IPv4 addresses, the same as lkd's `ip -4 addr`, and no host one.
ifconf='import ctypes, fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
need = struct.unpack("iL", fcntl.ioctl(s, 0x8912, struct.pack("iL", 0, 0)))[0]
buf = ctypes.create_string_buffer(need + 40)
got = struct.unpack("iL", fcntl.ioctl(s, 0x8912, struct.pack("iL", len(buf), ctypes.addressof(buf))))[0]
assert got == need, (got, need)
for at in range(0, got, 40):
    print(buf.raw[at:at + 16].rstrip(b"\0").decode(), socket.inet_ntoa(buf.raw[at + 20:at + 24]))'
run python3 -c "$ifconf" | sort >"$tmp/ifconf" || fail "SIOCGIFCONF under lkrun failed"
run ip -o -4 addr | awk '{split($4, a, "/"); print $2, a[1]}' | sort >"$tmp/ip4"
cmp -s "$tmp/ifconf" "$tmp/ip4" ||
	fail "SIOCGIFCONF: $(cat "$tmp/ifconf") but lkd's ip -4 addr: $(cat "$tmp/ip4")"
grep -qx 'dummy0 10.123.0.1' "$tmp/ifconf" || fail "SIOCGIFCONF misses dummy0: $(cat "$tmp/ifconf")"
for a in $(ip -o -4 addr | awk '{split($4, a, "/"); print a[1]}' | grep -vx 127.0.0.1); do
	grep -q " $a\$" "$tmp/ifconf" && fail "SIOCGIFCONF under lkrun shows the host's $a"
done
run ip route >"$tmp/ip_route" || fail "ip route failed"
grep -q '^10.124.0.0/16 via 10.123.0.2 dev dummy0' "$tmp/ip_route" ||
	fail "ip route: no 10.124.0.0/16: $(cat "$tmp/ip_route")"
if ip -4 addr | grep -q 10.123.0.1; then fail "the address reached the host"; fi
if ip route | grep -q 10.124.0.0; then fail "the route reached the host"; fi

# ping as root inside lkd: loopback, and the address only lkd has.
run ping -c 3 -i 0.2 127.0.0.1 >"$tmp/ping_lo" || fail "ping 127.0.0.1: $(cat "$tmp/ping_lo")"
grep -q '3 packets transmitted, 3 received' "$tmp/ping_lo" || fail "ping 127.0.0.1: $(cat "$tmp/ping_lo")"
run ping -c 3 -i 0.2 10.123.0.1 >"$tmp/ping_lkd" || fail "ping 10.123.0.1: $(cat "$tmp/ping_lkd")"
grep -q '3 packets transmitted, 3 received' "$tmp/ping_lkd" || fail "ping 10.123.0.1: $(cat "$tmp/ping_lkd")"

# ss: lkd's listener, absent on the host.
setsid "$LKRUN" nc -l 127.0.0.1 7104 </dev/null >/dev/null 2>&1 &
bg_pids+=("$!")
wait_listen 7104
run ss -tan >"$tmp/ss" || fail "ss failed"
grep -q 'LISTEN.*127.0.0.1:7104' "$tmp/ss" || fail "ss -tan misses lkd's listener: $(cat "$tmp/ss")"
host_has_no_port 7104

# Installed (install.sh into a staging root): lkrun finds liblkhijack.so
# in ../lib, which finds liblkclient.so.0 beside itself.
sh "$root/rumpclient/install.sh" --prefix /usr/local --destdir "$tmp/stage" \
	--from "$root/rumpclient" >/dev/null || fail "install.sh failed"
timeout 60 "$tmp/stage/usr/local/bin/lkrun" ip -o link >"$tmp/ip_installed" ||
	fail "the installed lkrun failed"
grep -q ': dummy0: ' "$tmp/ip_installed" || fail "the installed lkrun: $(cat "$tmp/ip_installed")"

# lkd absent: lkrun says so and runs nothing.
set +e
LKD_SERVER="unix://$sockdir/absent.sock" "$LKRUN" curl -sS http://127.0.0.1:7104/ \
	>"$tmp/absent.out" 2>"$tmp/absent.err"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "lkrun ran curl without lkd"
grep -q "lkrun: cannot reach lkd at $sockdir/absent.sock" "$tmp/absent.err" ||
	fail "lkrun's message: $(cat "$tmp/absent.err")"
grep -q curl "$tmp/absent.err" && ! grep -qi 'curl:' "$tmp/absent.err" ||
	fail "curl itself ran: $(cat "$tmp/absent.err")"
[ ! -s "$tmp/absent.out" ] || fail "output without lkd: $(cat "$tmp/absent.out")"
# The library alone (LD_PRELOAD by hand) refuses too.
set +e
LD_PRELOAD="$root/rumpclient/liblkhijack.so" LKD_SERVER="unix://$sockdir/absent.sock" \
	curl -sS http://127.0.0.1:7104/ >"$tmp/absent2.out" 2>"$tmp/absent2.err"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "the preloaded curl ran without lkd"
grep -q 'liblkhijack: cannot attach to lkd' "$tmp/absent2.err" ||
	fail "the library's message: $(cat "$tmp/absent2.err")"
# lkrun's own errors.
"$LKRUN" --help | grep -q 'Usage: lkrun' || fail "lkrun --help"
set +e
"$LKRUN" --bogus true 2>"$tmp/bogus.err"
rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q "unknown option '--bogus'" "$tmp/bogus.err" || fail "lkrun --bogus"
echo PASS
