#!/usr/bin/env bash
# make demo: an in-memory rendezvous and two peers on loopback, in temporary homes.
# Alice and Bob become friends by ID alone (they find each other through the rendezvous),
# Alice posts a photo, Bob syncs and reads his timeline. Everything is removed after.
set -euo pipefail
bin=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/bin}
work=$(mktemp -d "${TMPDIR:-/tmp}/kith-demo.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${KITH_DEMO_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
kith() { "$bin/kith" "$@"; }

say "a rendezvous (in memory) on loopback, with STUN/TURN"
# Ports the kernel picks (no collisions with anything else running); the log says which.
"$bin/kith-rendezvous" --listen 127.0.0.1:0 --stun 127.0.0.1:0 --turn-secret demo-secret --turn-allow-private \
	2>"$work/rendezvous.log" &
pids+=($!)
rdv=
for _ in $(seq 100); do
	rdv=$(sed -n 's/.*"rendezvous: serving","grpc":"\([^"]*\)".*/\1/p' "$work/rendezvous.log")
	[ -n "$rdv" ] && break
	kill -0 "${pids[0]}" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$rdv" ]; then
	echo "the rendezvous did not start:" >&2
	cat "$work/rendezvous.log" >&2
	exit 1
fi
echo "rendezvous at $rdv"

say "Alice and Bob make their identities"
KITH_HOME=$work/alice kith init --name Alice >/dev/null 2>&1
KITH_HOME=$work/bob kith init --name Bob >/dev/null 2>&1
for who in alice bob; do
	KITH_HOME=$work/$who "$bin/kith" daemon --listen 127.0.0.1:0 --rendezvous "$rdv" 2>"$work/$who.log" &
	pids+=($!)
done
for who in alice bob; do
	for _ in $(seq 100); do [ -S "$work/$who/kith.sock" ] && break; sleep 0.1; done
	# registered with the rendezvous, reflexive address learned by STUN
	for _ in $(seq 100); do
		KITH_HOME=$work/$who kith status --json 2>/dev/null | grep -q '"reflexive": *"[0-9]' && break
		sleep 0.1
	done
done
alice=$(KITH_HOME=$work/alice kith id)
bob=$(KITH_HOME=$work/bob kith id)
echo "Alice is $alice"
echo "Bob   is $bob"

say "they become friends, by ID alone"
KITH_HOME=$work/alice kith friend add "$bob" --name Bob
KITH_HOME=$work/bob kith friend add "$alice" --name Alice

say "Alice posts a photo to her friends"
printf '%s' 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==' \
	| base64 -d >"$work/sunset.png"
KITH_HOME=$work/alice kith post --attach "$work/sunset.png" "Sunset from the hill tonight #photo"

say "Bob syncs"
KITH_HOME=$work/bob kith sync

say "Bob's timeline"
KITH_HOME=$work/bob kith timeline
KITH_HOME=$work/bob kith status
say "done: everything ran in $work, now removed"
