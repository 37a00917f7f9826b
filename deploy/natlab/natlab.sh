#!/usr/bin/env bash
# Bring the standard NAT lab up or down by hand (as root). The lab is defined once, in
# Go (shared/natlab); this wraps its command. Examples:
#   deploy/natlab/natlab.sh up                      # build it, print nodes and addresses
#   ip netns exec natlab-manual-pr1 bash            # a shell on a host behind a port-restricted NAT
#   deploy/natlab/natlab.sh up -udp-timeout 10s -loss 5
#   deploy/natlab/natlab.sh down
set -euo pipefail
cd "$(dirname "$0")/../.."
exec go run ./shared/natlab/cmd/natlab "$@"
