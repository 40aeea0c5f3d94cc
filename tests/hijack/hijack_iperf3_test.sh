#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# iperf3 server and client under lkrun, TCP for 3 s over lkd's loopback:
# both finish cleanly, the server counted what the client sent (less
# the last bytes in flight) and told the client so, and the
# data connection was lkd's (its TIME-WAIT is in lkd, the host has none).
source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/hijack/lib.sh"
need iperf3 ss
start_lkd

spawn iperf3_server iperf3 -s -1 -p 7501 -B 127.0.0.1 -J
server=$!
wait_listen 7501
run iperf3 -c 127.0.0.1 -p 7501 -t 3 -J >"$tmp/client.json" || fail "iperf3 client failed"
wait "$server" || fail "iperf3 server failed"
/usr/bin/python3 - "$tmp/client.json" "$tmp/iperf3_server.log" <<'PY' || fail "iperf3 results"
import json, sys
c = json.load(open(sys.argv[1]))
s = json.load(open(sys.argv[2]))
sent = c["end"]["sum_sent"]["bytes"]
got = s["end"]["sum_received"]["bytes"]
# The receiver stops counting at the end of the interval, with the last
# bytes still in flight; the client reports the server's count.
assert sent > 0 and 0.9 * sent <= got <= sent, (sent, got)
assert c["end"]["sum_received"]["bytes"] == got, (c["end"]["sum_received"], got)
assert c["end"]["sum_sent"]["seconds"] >= 2.9
print("iperf3: %.1f Gbit/s" % (c["end"]["sum_received"]["bits_per_second"] / 1e9))
PY
run ss -Htan >"$tmp/ss"
grep -q 'TIME-WAIT.*127.0.0.1:7501' "$tmp/ss" || fail "no finished iperf3 connection in lkd: $(cat "$tmp/ss")"
host_has_no_port 7501
echo PASS
