// Package deploy holds what a community needs to run kith: the container image
// (Dockerfile), a compose file, Kubernetes manifests (k8s/) and systemd units (systemd/).
// It has no code of its own: its tests parse every artifact with the parser of the tool
// that will read it (the Kubernetes API types, buildkit's Dockerfile parser,
// systemd-analyze) and check the properties deploy/README.md promises, so `make test`
// catches a broken manifest without a cluster, a container engine or systemd running.
package deploy
