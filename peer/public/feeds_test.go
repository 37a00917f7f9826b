package public_test

import (
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/public"
	"github.com/mmcdole/gofeed"
)

// rfc4287Feed is the part of RFC 4287's schema the test checks: the elements a feed
// and its entries must have (atom:id, atom:title, atom:updated, an author for the feed).
type rfc4287Feed struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string   `xml:"http://www.w3.org/2005/Atom id"`
	Title   string   `xml:"http://www.w3.org/2005/Atom title"`
	Updated string   `xml:"http://www.w3.org/2005/Atom updated"`
	Author  []struct {
		Name string `xml:"http://www.w3.org/2005/Atom name"`
	} `xml:"http://www.w3.org/2005/Atom author"`
	Links []struct {
		Rel  string `xml:"rel,attr"`
		Href string `xml:"href,attr"`
	} `xml:"http://www.w3.org/2005/Atom link"`
	Entries []struct {
		ID      string `xml:"http://www.w3.org/2005/Atom id"`
		Title   string `xml:"http://www.w3.org/2005/Atom title"`
		Updated string `xml:"http://www.w3.org/2005/Atom updated"`
		Content struct {
			Type string `xml:"type,attr"`
			Body string `xml:",chardata"`
		} `xml:"http://www.w3.org/2005/Atom content"`
	} `xml:"http://www.w3.org/2005/Atom entry"`
}

func TestAtomFollowsRFC4287(t *testing.T) {
	f := newFixture(t, public.Config{PageSize: 10})
	var feed rfc4287Feed
	if err := xml.Unmarshal([]byte(f.get(t, "/feed.atom", 200).Body), &feed); err != nil {
		t.Fatalf("feed.atom does not parse as Atom: %v", err)
	}
	if feed.ID == "" || feed.Title == "" || len(feed.Author) == 0 || feed.Author[0].Name == "" {
		t.Errorf("feed lacks atom:id, atom:title or atom:author: %+v", feed)
	}
	if _, err := time.Parse(time.RFC3339, feed.Updated); err != nil {
		t.Errorf("feed atom:updated %q is not an RFC 3339 date: %v", feed.Updated, err)
	}
	if len(feed.Entries) != 3 {
		t.Fatalf("feed has %d entries, want the 3 public posts", len(feed.Entries))
	}
	for _, e := range feed.Entries {
		if _, err := time.Parse(time.RFC3339, e.Updated); err != nil || e.ID == "" || e.Title == "" {
			t.Errorf("entry lacks a valid id, title or updated: %+v", e)
		}
		if e.Content.Type != "text" {
			t.Errorf("entry content type %q, want text (the post's text is never markup)", e.Content.Type)
		}
	}
	if feed.Entries[1].Content.Body != f.pubB.Text {
		t.Errorf("escaped content does not round-trip: %q, want %q", feed.Entries[1].Content.Body, f.pubB.Text)
	}
}

func TestFeedsParseWithGofeed(t *testing.T) {
	f := newFixture(t, public.Config{})
	for _, path := range []string{"/feed.atom", "/feed.json"} {
		var titles []string
		next := path
		for pages := 0; next != ""; pages++ {
			if pages > 5 {
				t.Fatalf("%s: more pages than posts", path)
			}
			a := f.get(t, strings.TrimPrefix(next, "https://alice.example"), 200)
			feed, err := gofeed.NewParser().ParseString(a.Body)
			if err != nil {
				t.Fatalf("gofeed cannot parse %s: %v\n%s", next, err, a.Body)
			}
			if want := map[string]string{"/feed.atom": "atom", "/feed.json": "json"}[path]; feed.FeedType != want {
				t.Errorf("%s parsed as %q, want %q", path, feed.FeedType, want)
			}
			if feed.Title != "Alice Example on kith" || len(feed.Authors) == 0 {
				t.Errorf("%s: title %q, authors %v", path, feed.Title, feed.Authors)
			}
			for _, it := range feed.Items {
				titles = append(titles, it.Content)
				if it.PublishedParsed == nil || it.UpdatedParsed == nil || it.Link == "" {
					t.Errorf("%s: item %q lacks dates or link", path, it.Link)
				}
			}
			next = nextLink(t, path, a.Body, feed)
		}
		want := []string{f.pubShared.Text, f.pubB.Text, f.pubA.Text}
		if strings.Join(titles, "|") != strings.Join(want, "|") {
			t.Errorf("%s over all pages: items %q, want %q", path, titles, want)
		}
	}
}

// nextLink is a feed's next page: RFC 5005 rel=next for Atom, next_url for JSON Feed.
func nextLink(t *testing.T, path, body string, feed *gofeed.Feed) string {
	t.Helper()
	if path == "/feed.json" {
		var jf struct {
			NextURL string `json:"next_url"`
		}
		if err := json.Unmarshal([]byte(body), &jf); err != nil {
			t.Fatal(err)
		}
		return jf.NextURL
	}
	var af rfc4287Feed
	if err := xml.Unmarshal([]byte(body), &af); err != nil {
		t.Fatal(err)
	}
	for _, l := range af.Links {
		if l.Rel == "next" {
			return l.Href
		}
	}
	return ""
}
