//go:build ignore

// gen_words writes words.txt.gz from the frequency lists of the reference module
// (github.com/trustelem/zxcvbn, MIT licence, see LICENSE-zxcvbn-data): each list as a
// line "#name" followed by its words, one a line, most frequent first. Run it with
// go generate; the output is the same bytes for the same lists.
package main

import (
	"bufio"
	"compress/gzip"
	"log"
	"os"

	"github.com/trustelem/zxcvbn/frequency"
)

func main() {
	f, err := os.Create("words.txt.gz")
	if err != nil {
		log.Fatal(err)
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriter(zw)
	for _, name := range []string{"passwords", "english_wikipedia", "female_names", "surnames", "us_tv_and_film", "male_names"} {
		list, ok := frequency.FrequencyLists[name]
		if !ok {
			log.Fatalf("the reference module has no list %q", name)
		}
		w.WriteString("#" + name + "\n")
		for _, word := range list {
			w.WriteString(word + "\n")
		}
	}
	for _, c := range []interface{ Close() error }{nopFlush{w}, zw, f} {
		if err := c.Close(); err != nil {
			log.Fatal(err)
		}
	}
}

// nopFlush lets the buffered writer be flushed in the same close sequence as the files.
type nopFlush struct{ w *bufio.Writer }

func (n nopFlush) Close() error { return n.w.Flush() }
