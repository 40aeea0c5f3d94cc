#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Interface enumeration under lkrun shows lkd's interfaces, not the host's:
# a C program's getifaddrs, if_nameindex, if_nametoindex and
# if_indextoname (ifaddrs_prog) and python's socket.if_nameindex() list
# exactly the links and addresses lkctl reads from lkd's kernel (after a
# dummy link with IPv4, IPv6 and point-to-point addresses is made there).
# With LKD_HIJACK=net=none the same program lists the host's, as without
# lkrun (libc answers, and frees its own lists).
source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/hijack/lib.sh"
need python3 ip
start_lkd
PROG="$root/tests/hijack/ifaddrs_prog"
LKCTL="$root/tools/lkctl/lkctl"
export LKD_ADMIN="unix://$sockdir/admin.sock"

run ip link add lkdif0 type dummy || fail "ip link add (in lkd) failed"
run ip addr add 10.77.0.2/24 dev lkdif0 || fail "ip addr add failed"
run ip addr add 10.77.1.1/32 peer 10.77.1.2 dev lkdif0 label lkdif0:p || fail "ip addr add (peer) failed"
run ip -6 addr add fd77::2/64 dev lkdif0 nodad || fail "ip -6 addr add failed"
run ip link set lkdif0 up || fail "ip link set up failed"

# What lkd's kernel has, as lkctl (the admin plane, no liblkhijack) reads it,
# in the program's line format.
"$LKCTL" -j addr show >"$tmp/lkctl.json" || fail "lkctl addr show failed"
python3 - "$tmp/lkctl.json" >"$tmp/want" <<'PY'
import json, sys
for link in json.load(open(sys.argv[1])):
    name = link["ifname"]
    print("link", name)
    print("index", name, link["ifindex"])
    for a in link.get("addr_info", []):
        label = a.get("label", name) if a["family"] == "inet" else name
        print("addr", label, a["family"], "%s/%d" % (a["local"], a["prefixlen"]))
PY
sort -o "$tmp/want" "$tmp/want"
grep -q '^addr lkdif0:p inet 10.77.1.1/32$' "$tmp/want" || fail "lkctl does not show the test's address: $(cat "$tmp/want")"

run "$PROG" >"$tmp/got" 2>"$tmp/prog.log" || fail "ifaddrs_prog failed: $(cat "$tmp/prog.log")"
sort -o "$tmp/got" "$tmp/got"
diff -u "$tmp/want" "$tmp/got" >"$tmp/diff" || fail "getifaddrs/if_nameindex under lkrun differ from lkd's: $(cat "$tmp/diff")"

# python's socket.if_nameindex() (glibc's if_nameindex) and if_nametoindex.
run python3 -c '
import socket
for i, n in socket.if_nameindex():
    assert socket.if_nametoindex(n) == i, n
    assert socket.if_indextoname(i) == n, i
    print("index", n, i)
' >"$tmp/py" 2>"$tmp/py.log" || fail "python failed: $(cat "$tmp/py.log")"
sort -o "$tmp/py" "$tmp/py"
diff -u <(grep '^index ' "$tmp/want") "$tmp/py" >"$tmp/diff" ||
	fail "python's if_nameindex under lkrun differs from lkd's: $(cat "$tmp/diff")"

# Not lkd's network: libc answers with the host's (and frees its lists).
"$PROG" | sort >"$tmp/host"
LKD_HIJACK="net=none" run "$PROG" >"$tmp/none" 2>"$tmp/none.log" || fail "net=none: $(cat "$tmp/none.log")"
sort -o "$tmp/none" "$tmp/none"
diff -u "$tmp/host" "$tmp/none" >"$tmp/diff" || fail "with net=none the list is not the host's: $(cat "$tmp/diff")"
if grep -q lkdif0 "$tmp/host"; then fail "the host has lkd's link"; fi
echo PASS
