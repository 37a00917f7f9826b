package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/identity"
)

// runDeviceSuite is the device records' part of the shared suite (issue 16).
func runDeviceSuite(t *testing.T, newHarness func(t *testing.T) harness) {
	ctx := context.Background()
	devs := func(t *testing.T, h harness, fp identity.Fingerprint) string {
		t.Helper()
		got, err := h.s.Devices(ctx, []identity.Fingerprint{fp})
		must(t, err)
		if len(got) != 1 {
			t.Fatalf("Devices returned %d lists for one person", len(got))
		}
		s := ""
		for _, d := range got[0] {
			s += fmt.Sprintf("%s=%s@%d ", d.Device, d.Envelope, d.TimestampMs)
		}
		return s
	}
	t.Run("DevicesDoNotReplaceEachOther", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		must(t, h.s.PutDevice(ctx, fp, []byte("laptop01"), Record{Envelope: []byte("L1"), TimestampMs: 10}, time.Minute))
		must(t, h.s.PutDevice(ctx, fp, []byte("desktop1"), Record{Envelope: []byte("D1"), TimestampMs: 5}, time.Minute))
		if got, want := devs(t, h, fp), "desktop1=D1@5 laptop01=L1@10 "; got != want {
			t.Fatalf("two devices: %q, want %q (an older record of another device must not be refused)", got, want)
		}
		if err := h.s.PutDevice(ctx, fp, []byte("laptop01"), Record{Envelope: []byte("old"), TimestampMs: 10}, time.Minute); !errors.Is(err, ErrNotNewer) {
			t.Fatalf("replay of the laptop's record: %v, want ErrNotNewer", err)
		}
		must(t, h.s.PutDevice(ctx, fp, []byte("laptop01"), Record{Envelope: []byte("L2"), TimestampMs: 11}, time.Minute))
		if got, want := devs(t, h, fp), "desktop1=D1@5 laptop01=L2@11 "; got != want {
			t.Fatalf("after the laptop's newer record: %q, want %q", got, want)
		}
		if _, err := h.s.Get(ctx, fp); !errors.Is(err, ErrNotFound) {
			t.Fatalf("device records leaked into the identity's own record: %v", err)
		}
	})
	t.Run("DevicesManyInOrder", func(t *testing.T) {
		h := newHarness(t)
		a, b, c := fingerprint(t), fingerprint(t), fingerprint(t)
		must(t, h.s.PutDevice(ctx, a, []byte("dev-a-01"), Record{Envelope: []byte("A"), TimestampMs: 1}, time.Minute))
		must(t, h.s.PutDevice(ctx, c, []byte("dev-c-01"), Record{Envelope: []byte("C"), TimestampMs: 1}, time.Minute))
		got, err := h.s.Devices(ctx, []identity.Fingerprint{a, b, c})
		must(t, err)
		if len(got) != 3 || len(got[0]) != 1 || string(got[0][0].Envelope) != "A" || got[1] != nil ||
			len(got[2]) != 1 || string(got[2][0].Envelope) != "C" {
			t.Fatalf("Devices(a, b, c) = %+v; want A, none, C in request order", got)
		}
	})
	t.Run("DeviceExpiresAlone", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		must(t, h.s.PutDevice(ctx, fp, []byte("shortttl"), Record{Envelope: []byte("S"), TimestampMs: 1}, ttl))
		must(t, h.s.PutDevice(ctx, fp, []byte("longttl1"), Record{Envelope: []byte("L"), TimestampMs: 1}, time.Minute))
		h.advance(ttl + 100*time.Millisecond)
		if got, want := devs(t, h, fp), "longttl1=L@1 "; got != want {
			t.Fatalf("after the short TTL: %q, want %q", got, want)
		}
		// An expired record does not block an older timestamp: nothing is live to replay.
		must(t, h.s.PutDevice(ctx, fp, []byte("shortttl"), Record{Envelope: []byte("S0"), TimestampMs: 0}, time.Minute))
	})
	t.Run("DeleteDeviceOnlyOlder", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		must(t, h.s.PutDevice(ctx, fp, []byte("device01"), Record{Envelope: []byte("x"), TimestampMs: 50}, time.Minute))
		must(t, h.s.PutDevice(ctx, fp, []byte("device02"), Record{Envelope: []byte("y"), TimestampMs: 50}, time.Minute))
		must(t, h.s.DeleteDevice(ctx, fp, []byte("device01"), 50))
		if got, want := devs(t, h, fp), "device01=x@50 device02=y@50 "; got != want {
			t.Fatalf("a delete not newer than the record removed it: %q", got)
		}
		must(t, h.s.DeleteDevice(ctx, fp, []byte("device01"), 51))
		if got, want := devs(t, h, fp), "device02=y@50 "; got != want {
			t.Fatalf("after deleting device01: %q, want %q", got, want)
		}
		must(t, h.s.DeleteDevice(ctx, fp, []byte("nosuchdv"), 51))
	})
	t.Run("AtMostMaxDevices", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		for i := range MaxDevices {
			must(t, h.s.PutDevice(ctx, fp, fmt.Appendf(nil, "device%02d", i), Record{Envelope: []byte("d"), TimestampMs: 1}, time.Minute))
		}
		if err := h.s.PutDevice(ctx, fp, []byte("onetoomany"), Record{Envelope: []byte("d"), TimestampMs: 1}, time.Minute); !errors.Is(err, ErrTooManyDevices) {
			t.Fatalf("device %d: %v, want ErrTooManyDevices", MaxDevices+1, err)
		}
		// A device already held may still refresh its record.
		must(t, h.s.PutDevice(ctx, fp, []byte("device00"), Record{Envelope: []byte("d2"), TimestampMs: 2}, time.Minute))
	})
}
