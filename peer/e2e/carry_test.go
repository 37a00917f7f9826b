package e2e

import (
	"bytes"
	"crypto/ed25519"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// homebytes DIR TEXT: succeed when TEXT occurs in the raw bytes of any file under DIR
// (the bbolt file, blobs, everything). `! homebytes` says nothing under DIR holds it.
func cmdHomeBytes(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: homebytes DIR TEXT")
	}
	var found []string
	ts.Check(filepath.WalkDir(ts.MkAbs(args[0]), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSocket != 0 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(args[1])) {
			found = append(found, path)
		}
		return nil
	}))
	if (len(found) > 0) == neg {
		ts.Fatalf("homebytes %s %q: found in %v (negated: %v)", args[0], args[1], found, neg)
	}
}

// tamperparcel HOME flip|resign: alter every parcel a stopped node carries for others,
// as a dishonest carrier would: flip a byte of the sealed body and keep the slot's
// signature (flip), or flip it and sign the result with a fresh slot key (resign), so
// only the reader's decryption can tell.
func cmdTamperParcel(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || (args[1] != "flip" && args[1] != "resign") {
		ts.Fatalf("usage: tamperparcel HOME flip|resign")
	}
	db, err := bolt.Open(filepath.Join(ts.MkAbs(args[0]), "kith.db"), 0o600, nil)
	ts.Check(err)
	defer db.Close()
	n := 0
	ts.Check(db.Update(func(tx *bolt.Tx) error {
		ps := tx.Bucket([]byte("parcels"))
		type repl struct{ slot, val []byte }
		var out []repl
		err := ps.ForEach(func(slot, v []byte) error {
			env := new(signedv1.Envelope)
			if err := proto.Unmarshal(v, env); err != nil {
				return err
			}
			p := new(syncv1.Parcel)
			if err := proto.Unmarshal(env.GetPayload(), p); err != nil {
				return err
			}
			p.Sealed[len(p.Sealed)/2+len(p.Sealed)/4] ^= 0x55
			if args[1] == "resign" {
				_, priv, _ := ed25519.GenerateKey(nil)
				k, _ := identity.FromSeed(priv.Seed())
				pub := k.Public()
				p.Slot = pub.Bytes()
				if env, err = signed.Seal(k, identity.ContextParcel, p); err != nil {
					return err
				}
			} else {
				env.Payload, _ = proto.Marshal(p)
			}
			b, err := proto.Marshal(env)
			out = append(out, repl{bytes.Clone(slot), b})
			return err
		})
		if err != nil {
			return err
		}
		for _, r := range out {
			// The parcel log and metadata still name the old slot: serve the altered bytes there.
			if err := ps.Put(r.slot, r.val); err != nil {
				return err
			}
			n++
		}
		return nil
	}))
	if n == 0 {
		ts.Fatalf("tamperparcel: %s holds no parcels", args[0])
	}
}
