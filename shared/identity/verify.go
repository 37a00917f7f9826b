package identity

import (
	"crypto/rand"
	"fmt"
	"runtime"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// verifyOptions is the one signature rule of kith, for single and batch checks alike:
// cofactored verification (the equation a batch checks, so that a batch and a single
// check never disagree), canonical encodings of A and R only, and neither of small order.
// An honest key and an honest signature meet all of it; crypto/ed25519's cofactorless
// rule differs only for signatures with small-order parts, which only a key's owner can
// make, and which kith refuses everywhere. See docs/DESIGN.md "One signature rule".
var verifyOptions = &voi.Options{Verify: &voi.VerifyOptions{}}

// Verify checks sig over context || payload with pub.
func Verify(pub PublicKey, ctx Context, payload, sig []byte) error {
	if len(sig) != voi.SignatureSize {
		return fmt.Errorf("%w: want %d bytes of signature, got %d", ErrBadSignature, voi.SignatureSize, len(sig))
	}
	if !voi.VerifyWithOptions(voi.PublicKey(pub[:]), message(ctx, payload), sig, verifyOptions) {
		return fmt.Errorf("%w for %s (%s)", ErrBadSignature, pub.Short(), ctx)
	}
	return nil
}

// Signed is one signature for VerifyAll to check.
type Signed struct {
	Key     PublicKey
	Context Context
	Payload []byte
	Sig     []byte
}

// batchMin is the least number of signatures worth a batch: below it, single checks are
// as fast.
const batchMin = 8

// VerifyAll checks every signature, on every core, in batches (about twice as fast per
// signature as single checks, with the same rule as Verify). It returns one error per
// item, nil where the item verifies, and ok when all do.
func VerifyAll(items []Signed) (errs []error, ok bool) {
	errs = make([]error, len(items))
	workers := min(runtime.GOMAXPROCS(0), (len(items)+batchMin-1)/batchMin)
	if workers <= 1 {
		verifyChunk(items, errs)
		return errs, allNil(errs)
	}
	var wg sync.WaitGroup
	per := (len(items) + workers - 1) / workers
	for lo := 0; lo < len(items); lo += per {
		hi := min(lo+per, len(items))
		wg.Add(1)
		go func() {
			defer wg.Done()
			verifyChunk(items[lo:hi], errs[lo:hi])
		}()
	}
	wg.Wait()
	return errs, allNil(errs)
}

// verifyChunk checks items as one batch; when the batch fails, each item on its own
// (the batch verifier does so), so that errs names exactly the bad ones.
func verifyChunk(items []Signed, errs []error) {
	if len(items) < batchMin {
		for i, it := range items {
			errs[i] = Verify(it.Key, it.Context, it.Payload, it.Sig)
		}
		return
	}
	bv := voi.NewBatchVerifierWithCapacity(len(items))
	for i, it := range items {
		if len(it.Sig) != voi.SignatureSize {
			errs[i] = fmt.Errorf("%w: want %d bytes of signature, got %d", ErrBadSignature, voi.SignatureSize, len(it.Sig))
			// A well-sized stand-in keeps the batch's indexes aligned; errs[i] is already set.
			bv.AddWithOptions(voi.PublicKey(it.Key[:]), nil, make([]byte, voi.SignatureSize), verifyOptions)
			continue
		}
		bv.AddWithOptions(voi.PublicKey(it.Key[:]), message(it.Context, it.Payload), it.Sig, verifyOptions)
	}
	_, valid := bv.Verify(rand.Reader)
	for i, it := range items {
		if errs[i] == nil && !valid[i] {
			errs[i] = fmt.Errorf("%w for %s (%s)", ErrBadSignature, it.Key.Short(), it.Context)
		}
	}
}

func allNil(errs []error) bool {
	for _, err := range errs {
		if err != nil {
			return false
		}
	}
	return true
}
