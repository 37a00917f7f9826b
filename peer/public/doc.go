// Package public is the opt-in HTTP face of a peer: it serves the person's public posts,
// and nothing else, as semantic HTML, Atom and JSON Feed, a sitemap, robots.txt, the
// signed envelopes as JSON and the attachments of public posts.
//
// The package reads everything through Source, the small interface the peer's store
// implements; the privacy rule lives in Source's contract, and Handler checks it again
// on every post it renders, so a faulty Source fails closed: a post that is not public
// is never rendered, whatever the Source returns.
package public
