// Package e2e tests the real kith and kith-rendezvous binaries as separate processes,
// driven by testscript files in testdata/script: every command of the CLI contract, the
// bad inputs a person makes, backups and recovery.
package e2e
