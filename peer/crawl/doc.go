// Package crawl is kith's reference crawler and its search index: it reaches peers as a
// stranger over the normal sync API (kith.sync.v1), pulls their public posts, verifies
// every signature against the author it expects, follows the edges people publish
// (public follow lists and IDs mentioned in public posts) breadth-first within
// politeness limits, and keeps a bbolt index by hashtag, author and time that Search
// answers from.
//
// The crawler reaches peers through a Dialer. Direct dials a host:port known for the
// peer: from a seed (ID@HOST:PORT) or from a public follow entry that published one.
// Through a rendezvous, `kith crawl --rendezvous` dials with reach.Stranger, which
// reaches a peer the way a node reaches a friend: a signed offer, punching, a relay.
package crawl
