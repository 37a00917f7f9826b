package crawl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/profile"
	"github.com/kithnet/kith/peer/syncer"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Errors a caller may test for with errors.Is: the sync's own, as the crawler reads a
// feed the way the puller does (syncer.ParseChanges, syncer.FetchPosts).
var (
	// ErrTampered means a peer served something that does not verify as its own: a bad
	// signature, a forged author, or a post other than the one asked for. Nothing of
	// that step is indexed and the peer's cursor stays.
	ErrTampered = syncer.ErrTampered
	// ErrProtocol means a peer's answer breaks the sync protocol.
	ErrProtocol = syncer.ErrProtocol
)

// Config configures a Crawler. Zero fields take the defaults.
type Config struct {
	// Index is where verified public posts and per-peer cursors go.
	Index *Index
	// Dialer reaches peers (Direct, or a rendezvous dialer).
	Dialer Dialer
	// MaxPeers is the crawl's budget of peers to dial (reached or not); 100 when zero.
	MaxPeers int
	// MaxPosts is the crawl's budget of posts to index; 100000 when zero.
	MaxPosts int
	// PeerInterval is the least time between two requests to one peer (politeness);
	// 50ms when zero, none when negative.
	PeerInterval time.Duration
	// BatchSize is how many changes one request asks for; 500 when zero.
	BatchSize int
	// PeerTimeout bounds the time spent on one peer in one run (what is indexed by then
	// stays, and the next run resumes from the cursor); 2 minutes when zero.
	PeerTimeout time.Duration
	// Logger receives rejections and progress; slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Summary sums up a crawl.
type Summary struct {
	// Visited is how many peers were reached.
	Visited int
	// Indexed and Removed count posts added (or updated) and taken out of the index.
	Indexed, Removed int
	// Failed lists peers that could not be crawled, and why (unreachable, no address,
	// tampered data).
	Failed []PeerError
	// Budget is true when a budget (peers or posts) ended the crawl early.
	Budget bool
}

// PeerError is a peer the crawl could not finish.
type PeerError struct {
	Peer identity.PublicKey
	Err  error
}

func (e PeerError) Error() string { return fmt.Sprintf("%s: %v", e.Peer.ID(), e.Err) }
func (e PeerError) Unwrap() error { return e.Err }

// Crawler crawls peers breadth-first from seeds. One Run at a time.
type Crawler struct {
	cfg Config
	log *slog.Logger
}

// New returns a Crawler.
func New(cfg Config) *Crawler {
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = 100
	}
	if cfg.MaxPosts <= 0 {
		cfg.MaxPosts = 100000
	}
	if cfg.PeerInterval == 0 {
		cfg.PeerInterval = 50 * time.Millisecond
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.PeerTimeout <= 0 {
		cfg.PeerTimeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Crawler{cfg: cfg, log: cfg.Logger}
}

// Run crawls from seeds, breadth-first, until the frontier is empty, a budget is spent
// or ctx ends. A peer that fails is recorded in the Summary and the crawl goes on.
func (c *Crawler) Run(ctx context.Context, seeds []profile.Follow) (Summary, error) {
	var sum Summary
	var q frontier
	for _, s := range seeds {
		q.add(s)
	}
	tried := 0 // peers dialled, reached or not: the peer budget bounds the time spent
	for f, ok := q.next(); ok; f, ok = q.next() {
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
		if tried >= c.cfg.MaxPeers || sum.Indexed >= c.cfg.MaxPosts {
			sum.Budget = true
			break
		}
		n, edges, err := c.visit(ctx, f, c.cfg.MaxPosts-sum.Indexed)
		sum.Indexed += n.Indexed
		sum.Removed += n.Removed
		for _, e := range edges {
			q.add(e)
		}
		if !errors.Is(err, ErrNoAddress) {
			tried++
		}
		if err != nil {
			c.log.Warn("crawl: peer failed", "peer", f.Key.ID(), "err", err)
			sum.Failed = append(sum.Failed, PeerError{Peer: f.Key, Err: err})
			if ctx.Err() != nil {
				return sum, ctx.Err()
			}
			continue
		}
		sum.Visited++
	}
	return sum, nil
}

// frontier is the breadth-first queue: each ID once, the first address heard kept, a
// later address filling in one that was missing while the ID still waits.
type frontier struct {
	queue []profile.Follow
	seen  map[identity.PublicKey]int // index in queue
	pos   int
}

func (q *frontier) add(f profile.Follow) {
	if q.seen == nil {
		q.seen = map[identity.PublicKey]int{}
	}
	if i, ok := q.seen[f.Key]; ok {
		if i >= q.pos && q.queue[i].Addr == "" {
			q.queue[i].Addr = f.Addr
		}
		return
	}
	q.seen[f.Key] = len(q.queue)
	q.queue = append(q.queue, f)
}

func (q *frontier) next() (profile.Follow, bool) {
	if q.pos >= len(q.queue) {
		return profile.Follow{}, false
	}
	q.pos++
	return q.queue[q.pos-1], true
}

// visit crawls one peer: its profile's edges, then its feed from the stored cursor.
func (c *Crawler) visit(ctx context.Context, f profile.Follow, budget int) (Applied, []profile.Follow, error) {
	var n Applied
	ix := c.cfg.Index
	ps, err := ix.Peer(f.Key)
	if err != nil {
		return n, nil, err
	}
	addr := f.Addr
	if addr == "" {
		addr = ps.Addr
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.PeerTimeout)
	defer cancel()
	cc, err := c.cfg.Dialer.Dial(ctx, f.Key, addr)
	if err == nil {
		defer cc.Close()
		var edges []profile.Follow
		p := &peerCrawl{c: c, peer: f.Key, cl: syncv1.NewSyncServiceClient(cc), budget: budget}
		n, edges, err = p.run(ctx, ps.Cursor)
		ps, _ = ix.Peer(f.Key) // Apply moved the cursor
		ps.Addr, ps.Crawled, ps.Err = addr, c.cfg.Now(), ""
		if err != nil {
			ps.Err = err.Error()
		}
		if perr := ix.PutPeer(f.Key, ps); perr != nil && err == nil {
			err = perr
		}
		return n, edges, err
	}
	ps.Err = err.Error()
	if perr := ix.PutPeer(f.Key, ps); perr != nil {
		return n, nil, perr
	}
	return n, nil, err
}

// peerCrawl is one visit to one peer.
type peerCrawl struct {
	c      *Crawler
	peer   identity.PublicKey
	cl     syncv1.SyncServiceClient
	budget int
	last   time.Time
	edges  []profile.Follow
}

// pace waits until the peer may be asked again.
func (p *peerCrawl) pace(ctx context.Context) error {
	if d := p.c.cfg.PeerInterval; d > 0 && !p.last.IsZero() {
		if wait := time.Until(p.last.Add(d)); wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	p.last = time.Now()
	return nil
}

func (p *peerCrawl) run(ctx context.Context, cursor uint64) (Applied, []profile.Follow, error) {
	var n Applied
	if err := p.profile(ctx); err != nil {
		return n, p.edges, err
	}
	for n.Indexed < p.budget {
		if err := p.pace(ctx); err != nil {
			return n, p.edges, err
		}
		resp, err := p.cl.Changes(ctx, &syncv1.ChangesRequest{Since: cursor, Limit: uint32(p.c.cfg.BatchSize)})
		if err != nil {
			return n, p.edges, fmt.Errorf("changes since %d: %w", cursor, err)
		}
		b, err := p.step(ctx, cursor, resp)
		if err != nil {
			return n, p.edges, err
		}
		got, err := p.c.cfg.Index.Apply(p.peer, b)
		if err != nil {
			return n, p.edges, err
		}
		n.Indexed += got.Indexed
		n.Removed += got.Removed
		cursor = b.Cursor
		if !resp.GetMore() {
			break
		}
	}
	return n, p.edges, nil
}

// profile reads the peer's public profile for its follow edges. A peer without the RPC
// (an older kith) has none to give; a profile that does not verify fails the visit.
func (p *peerCrawl) profile(ctx context.Context) error {
	if err := p.pace(ctx); err != nil {
		return err
	}
	resp, err := p.cl.GetProfile(ctx, &syncv1.GetProfileRequest{})
	if status.Code(err) == codes.Unimplemented {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get profile: %w", err)
	}
	pr, err := profile.OpenFrom(resp.GetProfile(), p.peer)
	if err != nil {
		p.c.log.Warn("crawl: rejected a profile", "peer", p.peer.ID(), "err", err)
		return fmt.Errorf("%w: %w", ErrTampered, err)
	}
	p.edges = append(p.edges, pr.Follows...)
	return nil
}

// step turns one Changes answer into a verified batch, and takes the edges that its
// public posts mention. A private post served to a stranger verifies but is not indexed
// (Apply keeps only public ones) and gives no edges.
func (p *peerCrawl) step(ctx context.Context, since uint64, resp *syncv1.ChangesResponse) (Batch, error) {
	st, err := syncer.ParseChanges(since, resp)
	b := Batch{Cursor: st.Cursor, Gone: st.Revoked}
	if err != nil {
		return b, err
	}
	b.Posts, err = syncer.FetchPosts(ctx, p.cl, p.peer, st.Fetch, p.pace)
	if err != nil {
		if errors.Is(err, ErrTampered) {
			p.c.log.Warn("crawl: rejected a post", "peer", p.peer.ID(), "err", err)
		}
		return b, err
	}
	for _, v := range b.Posts {
		if v.Payload.GetVisibility() != postv1.Visibility_VISIBILITY_PUBLIC || v.Payload.GetDeleted() {
			continue
		}
		for _, k := range Mentions(v.Payload.GetText()) {
			if k != p.peer {
				p.edges = append(p.edges, profile.Follow{Key: k})
			}
		}
	}
	return b, nil
}
