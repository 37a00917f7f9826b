package public

import (
	"errors"
	"strings"
)

// checkPath refuses request paths that try to leave the routes: dot segments, empty
// segments, backslashes, control characters, and encodings of them (a decoded path that
// still holds '%' was encoded twice; an encoded '/' or '\' shows in rawPath).
func checkPath(path, rawPath string) error {
	if !strings.HasPrefix(path, "/") {
		return errors.New("path must start with '/'")
	}
	lower := strings.ToLower(rawPath)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return errors.New("encoded '/' or '\\' in path")
	}
	for i := 0; i < len(path); i++ {
		// An if per rule, not a switch: gremlins counts a case's condition as not covered.
		c := path[i]
		if c < 0x20 || c == 0x7f {
			return errors.New("control character in path")
		}
		if c == '\\' || c == '%' {
			return errors.New("'\\' or a doubly encoded character in path")
		}
	}
	for _, seg := range strings.Split(path[1:], "/") {
		if seg == "." || seg == ".." {
			return errors.New("dot segment in path")
		}
	}
	if strings.Contains(path, "//") {
		return errors.New("empty segment in path")
	}
	return nil
}
