package store

import "testing"

// TestConfirmLeftOldestFirst: each unsubscribe confirmation wakes exactly the oldest
// waiter of its channel; one with no waiter (the connection already failed) is a no-op.
func TestConfirmLeftOldestFirst(t *testing.T) {
	h := newHub(nil)
	h.confirmLeft("none") // no waiter: must not panic nor create an entry
	if _, ok := h.leaving["none"]; ok {
		t.Fatal("confirmLeft without waiter created an entry")
	}
	first, second := make(chan struct{}), make(chan struct{})
	h.leaving["ch"] = []chan struct{}{first, second}
	h.confirmLeft("ch")
	select {
	case <-first:
	default:
		t.Fatal("oldest waiter not woken")
	}
	select {
	case <-second:
		t.Fatal("second waiter woken by the first confirmation")
	default:
	}
	if w := h.leaving["ch"]; len(w) != 1 || w[0] != second {
		t.Fatalf("waiters after one confirmation = %d, want the second alone", len(w))
	}
	h.confirmLeft("ch")
	select {
	case <-second:
	default:
		t.Fatal("second waiter not woken")
	}
	if _, ok := h.leaving["ch"]; ok {
		t.Fatal("channel entry kept after its last waiter left")
	}
}
