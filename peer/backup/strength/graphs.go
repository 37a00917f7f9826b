package strength

// Keyboard layouts as drawn in zxcvbn's build_keyboard_adjacency_graphs.py, a row a
// line: each key is a token of its characters (unshifted, then shifted); on the slanted
// keyboards each row sits one column further right than the row above it.
var (
	qwertyLayout = []string{
		"`~ 1! 2@ 3# 4$ 5% 6^ 7& 8* 9( 0) -_ =+",
		"    qQ wW eE rR tT yY uU iI oO pP [{ ]} \\|",
		"     aA sS dD fF gG hH jJ kK lL ;: '\"",
		"      zZ xX cC vV bB nN mM ,< .> /?",
	}
	dvorakLayout = []string{
		"`~ 1! 2@ 3# 4$ 5% 6^ 7& 8* 9( 0) [{ ]}",
		"    '\" ,< .> pP yY fF gG cC rR lL /? =+ \\|",
		"     aA oO eE uU iI dD hH tT nN sS -_",
		"      ;: qQ jJ kK xX bB mM wW vV zZ",
	}
	keypadLayout = []string{
		"  / * -",
		"7 8 9 +",
		"4 5 6",
		"1 2 3",
		"  0 .",
	}
	macKeypadLayout = []string{
		"  = / *",
		"7 8 9 -",
		"4 5 6 +",
		"1 2 3",
		"  0 .",
	}
)

// graph is a keyboard's adjacency: for each character, the keys around its key in a
// fixed clockwise order of directions ("" where there is no key), so that a walk can
// count its turns.
type graph struct {
	name    string
	adj     map[rune][]string
	shifted map[rune]bool // characters typed with shift
	degree  float64       // average number of neighbouring keys
	slanted bool          // a typewriter keyboard, not a keypad
}

// keyboards builds the four graphs zxcvbn walks.
func keyboards() []*graph {
	return []*graph{
		newGraph("qwerty", qwertyLayout, true),
		newGraph("dvorak", dvorakLayout, true),
		newGraph("keypad", keypadLayout, false),
		newGraph("mac_keypad", macKeypadLayout, false),
	}
}

type point struct{ x, y int }

// around lists the directions to a key's neighbours, clockwise from the left: on a
// slanted keyboard only near-diagonal keys touch (g touches t, y, b, v but not r, u, n,
// c); a keypad's rows are aligned, so all eight touch.
func around(slanted bool) []point {
	if slanted {
		return []point{{-1, 0}, {0, -1}, {1, -1}, {1, 0}, {0, 1}, {-1, 1}}
	}
	return []point{{-1, 0}, {-1, -1}, {0, -1}, {1, -1}, {1, 0}, {1, 1}, {0, 1}, {-1, 1}}
}

// newGraph reads a layout into its adjacency graph.
func newGraph(name string, layout []string, slanted bool) *graph {
	keys := keyPositions(layout, slanted)
	around := around(slanted)
	g := &graph{name: name, adj: make(map[rune][]string), shifted: make(map[rune]bool), slanted: slanted}
	for at, key := range keys {
		next := make([]string, len(around))
		for d, off := range around {
			next[d] = keys[point{at.x + off.x, at.y + off.y}]
		}
		for i, c := range key {
			g.adj[c] = next
			g.shifted[c] = i == 1
		}
	}
	edges := 0
	for _, next := range g.adj {
		for _, k := range next {
			if k != "" {
				edges++
			}
		}
	}
	g.degree = float64(edges) / float64(len(g.adj))
	return g
}

// keyPositions places each key token of a layout on a grid of columns and rows.
func keyPositions(layout []string, slanted bool) map[point]string {
	keys := make(map[point]string)
	for y, line := range layout {
		slant := 0
		if slanted {
			slant = y
		}
		for start := 0; start < len(line); {
			if line[start] == ' ' {
				start++
				continue
			}
			end := start
			for end < len(line) && line[end] != ' ' {
				end++
			}
			width := end - start + 1 // a token and the space after it
			keys[point{(start - slant) / width, y}] = line[start:end]
			start = end
		}
	}
	return keys
}
