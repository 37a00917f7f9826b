package strength

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"maps"
	"strings"
	"unicode/utf8"
)

// wordsGz holds zxcvbn's frequency lists (see LICENSE-zxcvbn-data), written by
// gen_words.go: each list as a line "#name", then its words, most frequent first.
//
//go:embed words.txt.gz
var wordsGz []byte

// rankedWords maps a lowercase word to its rank: 1 for the most frequent word.
type rankedWords struct {
	rank   map[string]int
	maxLen int // the most runes any word has: longer substrings need no lookup
}

// wordList is one named frequency list.
type wordList struct {
	name  string
	words []string
}

// mustWordLists reads the embedded lists. They are part of the binary, so failing to
// read them is a broken build, not a condition to handle.
func mustWordLists() []wordList {
	lists, err := parseWordLists(wordsGz)
	if err != nil {
		panic(fmt.Sprintf("strength: embedded words.txt.gz: %v", err))
	}
	return lists
}

// parseWordLists reads the format gen_words.go writes.
func parseWordLists(gz []byte) ([]wordList, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	var lists []wordList
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "#"); ok {
			lists = append(lists, wordList{name: name})
			continue
		}
		if len(lists) == 0 {
			return nil, fmt.Errorf("word %q before any list name", line)
		}
		last := &lists[len(lists)-1]
		last.words = append(last.words, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return lists, zr.Close()
}

// rankLists ranks every word by its place in its list. No word is in two lists (zxcvbn's
// build script keeps each word in the list where it ranks best; TestWordsMatchReference
// checks it), so one map holds them all.
func rankLists(lists []wordList) rankedWords {
	n := 0
	for _, l := range lists {
		n += len(l.words)
	}
	r := rankedWords{rank: make(map[string]int, n)}
	for _, l := range lists {
		one := rankWords(l.words)
		maps.Copy(r.rank, one.rank)
		r.maxLen = max(r.maxLen, one.maxLen)
	}
	return r
}

// rankWords ranks one list in its order. A word listed twice (in any case) keeps its
// later rank, as zxcvbn's ranked dictionaries do.
func rankWords(list []string) rankedWords {
	r := rankedWords{rank: make(map[string]int, len(list))}
	for i, w := range list {
		lw := strings.ToLower(w)
		r.rank[lw] = i + 1
		r.maxLen = max(r.maxLen, utf8.RuneCountInString(lw))
	}
	return r
}
