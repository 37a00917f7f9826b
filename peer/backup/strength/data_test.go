package strength

import (
	"math"
	"slices"
	"testing"

	"github.com/trustelem/zxcvbn/adjacency"
	"github.com/trustelem/zxcvbn/frequency"
)

// The embedded lists are the reference's lists, word for word and in order.
func TestWordsMatchReference(t *testing.T) {
	lists := mustWordLists()
	if len(lists) != len(frequency.FrequencyLists) {
		t.Errorf("%d lists embedded, the reference has %d", len(lists), len(frequency.FrequencyLists))
	}
	for _, l := range lists {
		if !slices.Equal(l.words, frequency.FrequencyLists[l.name]) {
			t.Errorf("list %s: %d words embedded differ from the reference's %d (run go generate)",
				l.name, len(l.words), len(frequency.FrequencyLists[l.name]))
		}
	}
	loadOnce.Do(load)
	best := map[string]int{} // each word's rank in the one list that has it
	for name, l := range frequency.FrequencyLists {
		for i, w := range l {
			if _, ok := best[w]; ok {
				t.Errorf("%q is in list %s and another", w, name)
			}
			best[w] = i + 1
		}
	}
	if len(words.rank) != len(best) {
		t.Errorf("%d words ranked, the reference lists %d", len(words.rank), len(best))
	}
	for w, want := range best {
		if got := words.rank[w]; got != want {
			t.Errorf("rank of %q = %d, want %d (its best rank over the lists)", w, got, want)
		}
	}
	if words.maxLen != 23 {
		t.Errorf("longest word %d runes, want 23", words.maxLen)
	}
}

// The graphs built from the layouts are the reference's: every key's neighbours in the
// same directions, and the same average degree.
func TestGraphsMatchReference(t *testing.T) {
	loadOnce.Do(load)
	for _, g := range graphs {
		ref := adjacency.Graphs[g.name]
		if ref == nil {
			t.Fatalf("the reference has no graph %q", g.name)
		}
		if len(g.adj) != len(ref.Graph) {
			t.Errorf("%s: %d keys, the reference has %d", g.name, len(g.adj), len(ref.Graph))
		}
		for k, next := range ref.Graph {
			if got := g.adj[[]rune(k)[0]]; !slices.Equal(got, next) {
				t.Errorf("%s %q: neighbours %q, the reference's %q", g.name, k, got, next)
			}
		}
		if math.Abs(g.degree-ref.AverageDegree) > 1e-12 {
			t.Errorf("%s: average degree %v, the reference's %v", g.name, g.degree, ref.AverageDegree)
		}
		for _, c := range "~!@#$%^&*()_+QWERTYUIOP{}|ASDFGHJKL:\"ZXCVBNM<>?" {
			if g.slanted != g.shifted[c] {
				t.Errorf("%s: %q shifted %v", g.name, c, g.shifted[c])
			}
		}
		if g.shifted['a'] || g.shifted['1'] {
			t.Errorf("%s: a or 1 counted as shifted", g.name)
		}
	}
}
