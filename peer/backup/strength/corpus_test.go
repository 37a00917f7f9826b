package strength

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// corpus is a fixed, varied set of passwords for comparing with the reference: common
// passwords, words dressed up with capitals, l33t, digits and years, dates, keyboard
// walks, repeats, sequences, random strings, passphrases of several words, and some
// text in other scripts. The same seed gives the same corpus.
func corpus(t testing.TB) []string {
	t.Helper()
	lists := map[string][]string{}
	for _, l := range mustWordLists() {
		lists[l.name] = l.words
	}
	r := rand.New(rand.NewPCG(20, 20))
	pick := func(name string, top int) string {
		l := lists[name]
		return l[r.IntN(min(top, len(l)))]
	}
	var out []string
	add := func(n int, gen func() string) {
		for range n {
			out = append(out, gen())
		}
	}
	add(600, func() string { return pick("passwords", 30000) })
	add(400, func() string { return pick("passwords", 3000) + fmt.Sprint(r.IntN(1000)) })
	add(600, func() string { return dressUp(r, pick("english_wikipedia", 20000)) })
	add(400, func() string { return dressUp(r, pick("surnames", 5000)+pick("female_names", 2000)) })
	add(400, func() string { return dressUp(r, pick("us_tv_and_film", 10000)) + randomDate(r) })
	add(300, func() string { return randomDate(r) })
	add(500, func() string { return keyboardWalk(r, 6+r.IntN(12)) })
	add(300, func() string { return keyboardWalk(r, 4+r.IntN(6)) + pick("male_names", 900) })
	add(800, func() string { return randomString(r, 8+r.IntN(10)) })
	add(300, func() string { return randomString(r, 5+r.IntN(4)) + randomString(r, 5+r.IntN(4)) })
	add(900, func() string { return passphrase(r, lists, 2+r.IntN(4)) })
	add(300, func() string { return strings.Repeat(pick("passwords", 5000), 2+r.IntN(3)) })
	add(200, func() string { return strings.Repeat(randomString(r, 1+r.IntN(3)), 3+r.IntN(8)) })
	add(200, func() string { return sequenceOf(r) + pick("english_wikipedia", 5000) })
	add(200, func() string {
		return pick("passwords", 10000) + " " + pick("english_wikipedia", 30000) + fmt.Sprint(1900+r.IntN(150))
	})
	add(300, func() string { return otherScript(r) })
	return out
}

// dressUp writes a word as people do: a capital, l33t characters, digits or a symbol.
func dressUp(r *rand.Rand, w string) string {
	l33t := map[rune]string{'a': "4@", 'e': "3", 'i': "1!|", 'o': "0", 's': "$5", 't': "7+", 'l': "1|", 'g': "9", 'b': "8", 'z': "2"}
	var b strings.Builder
	for i, c := range w {
		switch subs, ok := l33t[c]; {
		case ok && r.IntN(3) == 0:
			b.WriteByte(subs[r.IntN(len(subs))])
		case (i == 0 && r.IntN(2) == 0) || r.IntN(12) == 0:
			b.WriteString(strings.ToUpper(string(c)))
		default:
			b.WriteRune(c)
		}
	}
	switch r.IntN(4) {
	case 0:
		fmt.Fprint(&b, r.IntN(100))
	case 1:
		b.WriteByte("!@#$%&*?"[r.IntN(8)])
	case 2:
		fmt.Fprint(&b, 1950+r.IntN(80))
	}
	return b.String()
}

func randomDate(r *rand.Rand) string {
	d, m, y := 1+r.IntN(31), 1+r.IntN(12), 1940+r.IntN(100)
	sep := string(" /-._\\"[r.IntN(6)])
	switch r.IntN(5) {
	case 0:
		return fmt.Sprintf("%02d%02d%d", d, m, y)
	case 1:
		return fmt.Sprintf("%d%s%d%s%d", d, sep, m, sep, y%100)
	case 2:
		return fmt.Sprintf("%d%s%02d%s%02d", y, sep, m, sep, d)
	case 3:
		return fmt.Sprintf("%d%d%d", m, d, y%100)
	default:
		return fmt.Sprintf("%02d%s%02d%s%d", m, sep, d, sep, y)
	}
}

// keyboardWalk walks the qwerty or keypad graph, sometimes holding shift.
func keyboardWalk(r *rand.Rand, n int) string {
	loadOnce.Do(load)
	g := graphs[[]int{0, 0, 1, 2}[r.IntN(4)]]
	keys := make([]rune, 0, len(g.adj))
	for k := range g.adj {
		keys = append(keys, k)
	}
	// map order is random: sort for a fixed corpus
	sortRunes(keys)
	at := keys[r.IntN(len(keys))]
	out := []rune{at}
	dir := r.IntN(len(g.adj[at]))
	for len(out) < n {
		if r.IntN(4) == 0 {
			dir = r.IntN(len(g.adj[at]))
		}
		key := g.adj[at][dir]
		if key == "" {
			dir = r.IntN(len(g.adj[at]))
			continue
		}
		kr := []rune(key)
		at = kr[0]
		if len(kr) > 1 && r.IntN(5) == 0 {
			at = kr[1]
		}
		out = append(out, at)
	}
	return string(out)
}

func sortRunes(rs []rune) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j] < rs[j-1]; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

func randomString(r *rand.Rand, n int) string {
	alphabets := []string{"abcdefghijklmnopqrstuvwxyz", "0123456789", "abcdefghijklmnopqrstuvwxyz0123456789",
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@#$%^&*()-_=+[]{};:'\",.<>/?`~\\| "}
	a := alphabets[r.IntN(len(alphabets))]
	b := make([]byte, n)
	for i := range b {
		b[i] = a[r.IntN(len(a))]
	}
	return string(b)
}

func passphrase(r *rand.Rand, lists map[string][]string, n int) string {
	names := []string{"english_wikipedia", "english_wikipedia", "us_tv_and_film", "passwords", "surnames"}
	ws := make([]string, n)
	for i := range ws {
		l := lists[names[r.IntN(len(names))]]
		ws[i] = l[r.IntN(len(l))]
	}
	return strings.Join(ws, []string{" ", "-", "", ".", " "}[r.IntN(5)])
}

func sequenceOf(r *rand.Rand) string {
	start, step, n := "aA0z9qm"[r.IntN(7)], 1+r.IntN(3), 3+r.IntN(6)
	if r.IntN(2) == 0 {
		step = -step
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(int(start) + i*step)
	}
	return string(b)
}

// otherScript mixes letters of other scripts, accents and emoji with ASCII words.
func otherScript(r *rand.Rand) string {
	parts := []string{"пароль", "привет", "über", "straße", "café", "naïve", "日本語", "パスワード",
		"😀", "ñandú", "αβγδ", "ǅemal", "İstanbul", "Ωmega", "1990", "Kräuter", "élève", "\u00a0", "ß"}
	n := 1 + r.IntN(4)
	var b strings.Builder
	for range n {
		b.WriteString(parts[r.IntN(len(parts))])
		if r.IntN(3) == 0 {
			b.WriteString(randomString(r, 1+r.IntN(4)))
		}
	}
	return b.String()
}
