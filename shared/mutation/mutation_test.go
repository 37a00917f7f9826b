package mutation

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
)

func readReport(t *testing.T) Report {
	t.Helper()
	f, err := os.Open("testdata/report.json")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	rep, err := ParseReport(f)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestScore(t *testing.T) {
	rep := readReport(t)
	tests := []struct {
		name               string
		equivalents        string
		killed, lived, nc  int
		equiv              int
		efficacy, coverage float64
		pass               bool
		wantErr            error
	}{
		{name: "nothing listed", killed: 4, lived: 2, nc: 1,
			efficacy: 100 * 4.0 / 6, coverage: 100 * 6.0 / 7},
		{name: "a lived mutant listed",
			equivalents: "# why\n\npeer/ui session.go:12:23 ARITHMETIC_BASE 12*time.Hour and 12/time.Hour both outlast the tests\n",
			killed:      4, lived: 1, nc: 1, equiv: 1, efficacy: 80, coverage: 100 * 5.0 / 6},
		{name: "both survivors and the uncovered one listed",
			equivalents: "peer/ui session.go:12:23 ARITHMETIC_BASE a\npeer/ui session.go:60:9 CONDITIONALS_NEGATION b\n" +
				"./peer/ui/ session.go:40:3 CONDITIONALS_BOUNDARY c\n",
			killed: 4, equiv: 3, efficacy: 100, coverage: 100, pass: true},
		{name: "another package's entry does not count",
			equivalents: "peer/feed session.go:12:23 ARITHMETIC_BASE other package\n",
			killed:      4, lived: 2, nc: 1, efficacy: 100 * 4.0 / 6, coverage: 100 * 6.0 / 7},
		{name: "a listed mutant that timed out has no verdict: timed out, not stale",
			equivalents: "peer/ui session.go:44:2 INCREMENT_DECREMENT log only",
			killed:      4, lived: 2, nc: 1, efficacy: 100 * 4.0 / 6, coverage: 100 * 6.0 / 7},
		{name: "a killed mutant listed is stale",
			equivalents: "peer/ui session.go:79:15 CONDITIONALS_NEGATION it is not", wantErr: ErrStaleEquivalent},
		{name: "a mutant of another mutator at the same place is stale",
			equivalents: "peer/ui session.go:60:9 CONDITIONALS_BOUNDARY wrong mutator", wantErr: ErrStaleEquivalent},
		{name: "no reason", equivalents: "peer/ui session.go:60:9 CONDITIONALS_NEGATION", wantErr: ErrNoReason},
		{name: "a path, not a base name", equivalents: "peer/ui ui/session.go:60:9 CONDITIONALS_NEGATION x", wantErr: ErrBadEquivalent},
		{name: "no column", equivalents: "peer/ui session.go:60 CONDITIONALS_NEGATION x", wantErr: ErrBadEquivalent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eq, err := ParseEquivalents(strings.NewReader(tt.equivalents))
			var f Figures
			if err == nil {
				f, err = Score("peer/ui", rep, eq)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Killed != tt.killed || f.Lived != tt.lived || f.NotCovered != tt.nc || f.Equiv != tt.equiv ||
				f.TimedOut != 1 || f.NotViable != 1 {
				t.Errorf("figures %s, want killed %d lived %d not covered %d equivalent %d timed out 1 not viable 1",
					f, tt.killed, tt.lived, tt.nc, tt.equiv)
			}
			if math.Abs(f.Efficacy()-tt.efficacy) > 0.01 || math.Abs(f.Coverage()-tt.coverage) > 0.01 {
				t.Errorf("efficacy %.2f coverage %.2f, want %.2f %.2f", f.Efficacy(), f.Coverage(), tt.efficacy, tt.coverage)
			}
			if got := f.Pass(90, 80); got != tt.pass {
				t.Errorf("Pass(90, 80) = %v, want %v", got, tt.pass)
			}
			if len(f.Survivors) != f.Lived || len(f.Uncovered) != f.NotCovered {
				t.Errorf("survivors %v uncovered %v do not match the counts", f.Survivors, f.Uncovered)
			}
		})
	}
}

func TestPassAtTheBar(t *testing.T) {
	tests := []struct {
		f    Figures
		pass bool
	}{
		{Figures{Killed: 9, Lived: 1}, true},       // 90% efficacy, 100% coverage
		{Figures{Killed: 89, Lived: 11}, false},    // 89%
		{Figures{Killed: 8, NotCovered: 2}, true},  // 80% coverage
		{Figures{Killed: 7, NotCovered: 3}, false}, // 70%
		{Figures{}, true},                          // no mutant at all
		{Figures{NotCovered: 1}, false},            // nothing covered
	}
	for _, tt := range tests {
		if got := tt.f.Pass(90, 80); got != tt.pass {
			t.Errorf("%s: Pass = %v, want %v", tt.f, got, tt.pass)
		}
	}
}

func TestSurvivorsSorted(t *testing.T) {
	f, err := Score("peer/ui", readReport(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Survivors) != 2 || f.Survivors[0].Line != 12 || f.Survivors[1].Line != 60 {
		t.Fatalf("survivors %v, want lines 12 then 60", f.Survivors)
	}
	if got, want := f.Survivors[0].String(), "peer/ui session.go:12:23 ARITHMETIC_BASE"; got != want {
		t.Fatalf("survivor %q, want %q (the equivalent file's form)", got, want)
	}
}

// TestEmptyReportFails: a report without mutants (gremlins wrote nothing, or found no
// file) is an error, never a 100% pass.
func TestEmptyReportFails(t *testing.T) {
	var oneFile Report
	if err := json.Unmarshal([]byte(`{"files":[{"file_name":"a.go","mutations":[]}]}`), &oneFile); err != nil {
		t.Fatal(err)
	}
	for _, rep := range []Report{{}, oneFile} {
		if _, err := Score("peer/x", rep, nil); !errors.Is(err, ErrNoMutants) {
			t.Fatalf("Score of %+v: %v, want ErrNoMutants", rep, err)
		}
	}
}

// TestInFiles: a run over some files of a package expects only their equivalents.
func TestInFiles(t *testing.T) {
	eqs := []Equivalent{
		{Mutant: Mutant{Pkg: "peer/ui", File: "session.go", Line: 1, Column: 1, Type: "CONDITIONALS_BOUNDARY"}},
		{Mutant: Mutant{Pkg: "peer/ui", File: "pages.go", Line: 2, Column: 1, Type: "CONDITIONALS_BOUNDARY"}},
		{Mutant: Mutant{Pkg: "peer/post", File: "post.go", Line: 3, Column: 1, Type: "CONDITIONALS_BOUNDARY"}},
	}
	if got := InFiles(eqs, "peer/ui", nil); len(got) != 3 {
		t.Errorf("no scope: %d kept, want all 3", len(got))
	}
	got := InFiles(eqs, "peer/ui/", []string{"session.go"})
	if len(got) != 2 || got[0].File != "session.go" || got[1].Pkg != "peer/post" {
		t.Errorf("scoped to session.go: kept %+v; want session.go's and the other package's", got)
	}
	// A scoped run with a stale entry in its own file still fails.
	rep, err := ParseReport(strings.NewReader(`{"files":[{"file_name":"session.go","mutations":[{"type":"CONDITIONALS_BOUNDARY","status":"KILLED","line":9,"column":9}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Score("peer/ui", rep, got); !errors.Is(err, ErrStaleEquivalent) {
		t.Errorf("a stale entry of a scoped file: %v, want ErrStaleEquivalent", err)
	}
}
