// Package mutation judges a gremlins mutation-testing report against a bar: it reads the
// report, sets aside the mutants listed as equivalent (each with a reason) and computes a
// package's test efficacy and mutator coverage.
//
// Figures follow gremlins' own definitions: efficacy is killed / (killed + lived), mutator
// coverage is (killed + lived) / (killed + lived + not covered). A mutant listed as
// equivalent cannot change behaviour, so it counts in neither. Timed-out and non-viable
// mutants count in neither either, as in gremlins.
package mutation

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Gremlins' status and mutator names, as its JSON report spells them.
const (
	StatusKilled     = "KILLED"
	StatusLived      = "LIVED"
	StatusNotCovered = "NOT COVERED"
	StatusTimedOut   = "TIMED OUT"
	StatusNotViable  = "NOT VIABLE"
)

var (
	// ErrBadEquivalent is a line of the equivalent-mutants file that does not read as
	// "package file:line:column MUTATOR reason".
	ErrBadEquivalent = errors.New("bad equivalent-mutant line: want 'package file:line:column MUTATOR reason'")
	// ErrNoReason is an equivalent mutant listed without saying why it is equivalent.
	ErrNoReason = errors.New("equivalent mutant listed without a reason")
	// ErrStaleEquivalent is a listed equivalent mutant that the run did not find alive:
	// it was killed (so it was not equivalent) or the code moved.
	ErrStaleEquivalent = errors.New("listed equivalent mutant is not a lived or uncovered mutant of this run")
	// ErrNoMutants is a report without a single mutant: gremlins ran no test against the
	// package (or wrote an empty report), which proves nothing and never passes.
	ErrNoMutants = errors.New("the report holds no mutant")
)

// Report is the part of gremlins' JSON output (unleash -o) that the figures need.
type Report struct {
	Files []struct {
		Name      string     `json:"file_name"`
		Mutations []Mutation `json:"mutations"`
	} `json:"files"`
}

// Mutation is one mutant of a report.
type Mutation struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

// Mutant names one mutant of a package: the file's base name, the position and the mutator.
type Mutant struct {
	Pkg    string // module-relative package directory, e.g. "peer/ui"
	File   string // base name of the file in Pkg
	Line   int
	Column int
	Type   string // gremlins' mutator name, e.g. CONDITIONALS_NEGATION
}

func (m Mutant) String() string {
	return fmt.Sprintf("%s %s:%d:%d %s", m.Pkg, m.File, m.Line, m.Column, m.Type)
}

// Equivalent is a mutant that cannot change behaviour, with the reason.
type Equivalent struct {
	Mutant
	Reason string
}

// ParseEquivalents reads the equivalent-mutants file: one mutant a line,
// "package file:line:column MUTATOR reason...", blank lines and #-comments ignored.
func ParseEquivalents(r io.Reader) ([]Equivalent, error) {
	var out []Equivalent
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("line %d: %w", n, ErrBadEquivalent)
		}
		if len(f) == 3 {
			return nil, fmt.Errorf("line %d (%s): %w", n, line, ErrNoReason)
		}
		pos := strings.Split(f[1], ":")
		if len(pos) != 3 || pos[0] == "" || strings.Contains(pos[0], "/") {
			return nil, fmt.Errorf("line %d: %w", n, ErrBadEquivalent)
		}
		ln, err1 := strconv.Atoi(pos[1])
		col, err2 := strconv.Atoi(pos[2])
		if err1 != nil || err2 != nil || ln < 1 || col < 1 {
			return nil, fmt.Errorf("line %d: %w", n, ErrBadEquivalent)
		}
		out = append(out, Equivalent{
			Mutant: Mutant{Pkg: path.Clean(f[0]), File: pos[0], Line: ln, Column: col, Type: f[2]},
			Reason: strings.Join(f[3:], " "),
		})
	}
	return out, sc.Err()
}

// Figures are one package's counts and scores.
type Figures struct {
	Pkg                                                   string
	Killed, Lived, NotCovered, TimedOut, NotViable, Equiv int
	Survivors                                             []Mutant // lived, not listed as equivalent
	Uncovered                                             []Mutant // not covered, not listed
}

// Efficacy is killed / (killed + lived) in percent; 100 when nothing ran.
func (f Figures) Efficacy() float64 {
	if f.Killed+f.Lived == 0 {
		return 100
	}
	return 100 * float64(f.Killed) / float64(f.Killed+f.Lived)
}

// Coverage is (killed + lived) / (killed + lived + not covered) in percent; 100 when
// the package has no mutant.
func (f Figures) Coverage() float64 {
	all := f.Killed + f.Lived + f.NotCovered
	if all == 0 {
		return 100
	}
	return 100 * float64(f.Killed+f.Lived) / float64(all)
}

// Pass says whether the figures reach the bar (in percent).
func (f Figures) Pass(efficacy, coverage float64) bool {
	return f.Efficacy() >= efficacy && f.Coverage() >= coverage
}

// String is the one line make mutate prints for the package.
func (f Figures) String() string {
	return fmt.Sprintf("%-20s efficacy %6.2f%%  coverage %6.2f%%  (killed %d, lived %d, not covered %d, timed out %d, not viable %d, equivalent %d)",
		f.Pkg, f.Efficacy(), f.Coverage(), f.Killed, f.Lived, f.NotCovered, f.TimedOut, f.NotViable, f.Equiv)
}

// Score computes pkg's figures from its report, setting aside the listed equivalent
// mutants of pkg. A listed mutant of pkg that the report shows killed, or does not show
// at all, is an error (ErrStaleEquivalent): the list must stay true. One that timed out
// has no verdict and counts as timed out.
func Score(pkg string, rep Report, equivalents []Equivalent) (Figures, error) {
	pkg = path.Clean(pkg)
	listed := map[Mutant]bool{}
	for _, e := range equivalents {
		if e.Pkg == pkg {
			listed[e.Mutant] = false
		}
	}
	f := Figures{Pkg: pkg}
	for _, file := range rep.Files {
		for _, m := range file.Mutations {
			id := Mutant{Pkg: pkg, File: path.Base(file.Name), Line: m.Line, Column: m.Column, Type: m.Type}
			if _, ok := listed[id]; ok && (m.Status == StatusLived || m.Status == StatusNotCovered) {
				listed[id] = true
				f.Equiv++
				continue
			}
			if _, ok := listed[id]; ok && m.Status == StatusTimedOut {
				// No verdict (a loaded machine): the entry is neither confirmed nor
				// refuted, so it is not called stale; the mutant counts as timed out.
				listed[id] = true
			}
			switch m.Status {
			case StatusKilled:
				f.Killed++
			case StatusLived:
				f.Lived++
				f.Survivors = append(f.Survivors, id)
			case StatusNotCovered:
				f.NotCovered++
				f.Uncovered = append(f.Uncovered, id)
			case StatusTimedOut:
				f.TimedOut++
			case StatusNotViable:
				f.NotViable++
			}
		}
	}
	if f.Killed+f.Lived+f.NotCovered+f.TimedOut+f.NotViable+f.Equiv == 0 {
		return f, fmt.Errorf("%s: %w", pkg, ErrNoMutants)
	}
	var stale []string
	for m, seen := range listed {
		if !seen {
			stale = append(stale, m.String())
		}
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		return f, fmt.Errorf("%s: %w: %s", pkg, ErrStaleEquivalent, strings.Join(stale, "; "))
	}
	sortMutants(f.Survivors)
	sortMutants(f.Uncovered)
	return f, nil
}

// ParseReport decodes gremlins' JSON report.
func ParseReport(r io.Reader) (Report, error) {
	var rep Report
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return Report{}, fmt.Errorf("gremlins report: %w", err)
	}
	return rep, nil
}

func sortMutants(ms []Mutant) {
	sort.Slice(ms, func(i, j int) bool {
		a, b := ms[i], ms[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Type < b.Type
	})
}

// InFiles keeps the equivalents that a run over only files of pkg can meet: those of
// other packages, and those of pkg in one of files (all of pkg's when files is empty).
// Without it a run scoped to some files would call the others' entries stale.
func InFiles(eqs []Equivalent, pkg string, files []string) []Equivalent {
	if len(files) == 0 {
		return eqs
	}
	keep := map[string]bool{}
	for _, f := range files {
		keep[f] = true
	}
	pkg = path.Clean(pkg)
	var out []Equivalent
	for _, e := range eqs {
		if e.Pkg != pkg || keep[e.File] {
			out = append(out, e)
		}
	}
	return out
}
