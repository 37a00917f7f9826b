// Package carry seals posts into parcels that friends carry for readers who are never
// online with the author, and opens them (issue 17).
//
// A parcel is a signed Parcel (context kith/parcel/v1) whose signer is a slot key the
// author derives from its own seed and the post id: carriers check that a newer parcel
// of a slot comes from the same hand as the older one, without learning whose hand it
// is. Its sealed bytes hold the author's own signed post (or a signed revocation),
// encrypted to each addressed reader's key with anonymous X25519 stanzas; readers open
// it and verify the author's signature exactly as for a post pulled from the author.
//
// Pure functions over bytes: no store, no network. The daemon and the store decide
// what to seal, whom to ask and what to keep.
package carry
