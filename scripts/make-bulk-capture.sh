#!/usr/bin/env bash
# A real high-rate "normal" capture: HTTP bulk downloads (python3 -m http.server → curl) over a 300 Mbit/s lab
# link, recorded headers-only by tcpdump on the bridge port of the server. Each download fetches a random
# amount (20–200 MB) at a random curl --limit-rate (12–40 MB/s) with a random pause (0–1 s) before it, so the
# traffic has the rate swings of a site's server-to-server copies (backups, image pulls), not one flat line.
#
#   sudo scripts/make-bulk-capture.sh OUT.pcap.gz [SECONDS] [SEED]     (root: smig lab; needs tcpdump, curl, python3)
#
# The lab (2 hosts, `smig lab up --rate 300mbit`: tbf on each host's egress, MTU 1500, offloads off) is taken
# down at the end. Server h1 10.79.0.1:8080, client h2; the data direction is `src host 10.79.0.1`.
set -euo pipefail
OUT=${1:?usage: make-bulk-capture.sh OUT.pcap.gz [SECONDS] [SEED]}
SECONDS_WANTED=${2:-40}
SEED=${3:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SMIG="node $ROOT/bin/smig"
LAB=bulkcap
WORK=$(mktemp -d /tmp/smig-bulkcap-XXXXXX)
cleanup() {
  [ -n "${DUMP:-}" ] && kill -INT "$DUMP" 2>/dev/null || true
  $SMIG lab down "$LAB" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
$SMIG lab down "$LAB" >/dev/null 2>&1 || true
$SMIG lab up --hosts 2 --name "$LAB" --subnet 10.79.0.0/24 --rate 300mbit >&2
# sparse files to serve (read as zeros from the page cache: the server's disk is not the bottleneck); http.server
# ignores Range requests, so each download size is a file of its own
for mb in $(seq 20 200); do truncate -s "${mb}MB" "$WORK/blob-$mb"; done
$SMIG lab exec "$LAB" h1 -- python3 -m http.server 8080 --bind 10.79.0.1 --directory "$WORK" >/dev/null 2>&1 &
for _ in $(seq 50); do
  $SMIG lab exec "$LAB" h2 -- curl -s -o /dev/null http://10.79.0.1:8080/blob-20 && break
  sleep 0.1
done
$SMIG lab exec "$LAB" br -- tcpdump -i vh1 -s 96 -U -w "$WORK/cap.pcap" 'tcp port 8080' 2>/dev/null &
DUMP=$!
sleep 1
# a seeded sequence of downloads (awk's rand: reproducible per seed)
END=$((SECONDS + SECONDS_WANTED))
awk -v seed="$SEED" 'BEGIN { srand(seed); for (i = 0; i < 1000; i++) printf "%d %d %.2f\n", 20 + int(rand() * 181), 12 + int(rand() * 29), rand() }' |
  while read -r mb rate pause; do
    [ "$SECONDS" -ge "$END" ] && break
    sleep "$pause"
    $SMIG lab exec "$LAB" h2 -- curl -s -o /dev/null --limit-rate "${rate}000000" \
      --max-time $((END - SECONDS + 1)) "http://10.79.0.1:8080/blob-$mb" || true
  done
sleep 0.5
kill -INT "$DUMP"
wait "$DUMP" 2>/dev/null || true
DUMP=
gzip -9 -c "$WORK/cap.pcap" >"$OUT"
echo "$OUT: $(stat -c %s "$OUT") bytes (gzip)" >&2
