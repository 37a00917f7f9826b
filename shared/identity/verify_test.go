package identity

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
)

// TestVerifyAllNamesEachBadSignature: a set with bad signatures at known places names
// exactly those, whatever its size (one batch, several, a last one part full).
func TestVerifyAllNamesEachBadSignature(t *testing.T) {
	a, b := newKey(t), newKey(t)
	for _, n := range []int{1, 7, batchSize, batchSize + 1, 3*batchSize + 5, 500} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			items := make([]Signed, n)
			for i := range items {
				k := a
				if i%3 == 1 {
					k = b
				}
				p := []byte(fmt.Sprintf("post %d", i))
				items[i] = Signed{Key: k.Public(), Context: ContextPost, Payload: p, Sig: k.Sign(ContextPost, p)}
			}
			errs, ok := VerifyAll(items)
			if !ok || len(errs) != n {
				t.Fatalf("all good: ok=%v, %d errors for %d items: %v", ok, len(errs), n, errs)
			}
			for i, err := range errs {
				if err != nil {
					t.Fatalf("good item %d: %v", i, err)
				}
			}
			bad := map[int]string{n - 1: "payload"}
			if n > 2 {
				bad[0] = "key"
				bad[n/2] = "short"
			}
			if n > 4 {
				bad[n/3+1] = "context"
			}
			for i, how := range bad {
				switch how {
				case "payload":
					items[i].Payload = append([]byte("x"), items[i].Payload...)
				case "key":
					items[i].Key = b.Public()
					if i%3 == 1 {
						items[i].Key = a.Public()
					}
				case "short":
					items[i].Sig = items[i].Sig[:10]
				case "context":
					items[i].Context = ContextReply
				}
			}
			errs, ok = VerifyAll(items)
			if ok {
				t.Fatal("a batch with bad signatures verified")
			}
			for i, err := range errs {
				if _, isBad := bad[i]; isBad != (err != nil) {
					t.Fatalf("item %d (bad: %q): err %v", i, bad[i], err)
				}
				if err != nil && !errors.Is(err, ErrBadSignature) {
					t.Fatalf("item %d: %v, want ErrBadSignature", i, err)
				}
			}
		})
	}
}

// TestVerifyRefusesSmallOrderKey: the identity point as a key with the identity point as
// R and a zero S satisfies crypto/ed25519's cofactorless equation for any message;
// kith's one rule refuses keys and R of small order, single and batched.
func TestVerifyRefusesSmallOrderKey(t *testing.T) {
	var key PublicKey
	key[0] = 1 // the identity point, y = 1
	sig := make([]byte, ed25519.SignatureSize)
	sig[0] = 1 // R = the identity point, S = 0
	msg := []byte("anything at all")
	if !ed25519.Verify(key[:], message(ContextPost, msg), sig) {
		t.Fatal("the stand-in forgery should pass crypto/ed25519 (the test's premise)")
	}
	if err := Verify(key, ContextPost, msg, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify: %v, want ErrBadSignature", err)
	}
	items := make([]Signed, 8)
	k := newKey(t)
	for i := range items {
		items[i] = Signed{Key: k.Public(), Context: ContextPost, Payload: msg, Sig: k.Sign(ContextPost, msg)}
	}
	items[3] = Signed{Key: key, Context: ContextPost, Payload: msg, Sig: sig}
	errs, ok := VerifyAll(items)
	if ok || errs[3] == nil {
		t.Fatalf("VerifyAll took a small-order key: ok=%v errs=%v", ok, errs)
	}
}
