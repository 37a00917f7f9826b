package identity

import (
	"crypto/rand"
	"fmt"
	"runtime"
	"slices"
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
		return errSignatureSize(sig)
	}
	if !voi.VerifyWithOptions(voi.PublicKey(pub[:]), message(ctx, payload), sig, verifyOptions) {
		return fmt.Errorf("%w for %s (%s)", ErrBadSignature, pub.Short(), ctx)
	}
	return nil
}

func errSignatureSize(sig []byte) error {
	return fmt.Errorf("%w: want %d bytes of signature, got %d", ErrBadSignature, voi.SignatureSize, len(sig))
}

// Signed is one signature for VerifyAll to check.
type Signed struct {
	Key     PublicKey
	Context Context
	Payload []byte
	Sig     []byte
}

// batchSize is how many signatures one batch holds: a batch checks them together in
// about half the time single checks take (more signatures gain little more), and
// batches run on every core at once.
const batchSize = 64

// VerifyAll checks every signature, in batches on every core, with the same rule as
// Verify. It returns one error per item, nil where the item verifies, and ok when all
// do.
func VerifyAll(items []Signed) (errs []error, ok bool) {
	errs = make([]error, len(items))
	cores := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for lo := 0; lo < len(items); lo += batchSize {
		hi := min(lo+batchSize, len(items))
		cores <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-cores; wg.Done() }()
			verifyBatch(items[lo:hi], errs[lo:hi])
		}()
	}
	wg.Wait()
	return errs, !slices.ContainsFunc(errs, func(err error) bool { return err != nil })
}

// verifyBatch checks items as one batch; when the batch fails, each item on its own
// (the batch verifier does so), so that errs names exactly the bad ones.
func verifyBatch(items []Signed, errs []error) {
	bv := voi.NewBatchVerifierWithCapacity(len(items))
	for i, it := range items {
		if len(it.Sig) != voi.SignatureSize {
			errs[i] = errSignatureSize(it.Sig)
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
