package public

import (
	"embed"
	"fmt"
	"html/template"
	"time"
)

//go:embed templates/*.html
var templateFiles embed.FS

// parseTemplates parses the page templates; html/template escapes every value by
// context, so a post's text is always text.
func parseTemplates() (*template.Template, error) {
	t, err := template.New("pages").Funcs(template.FuncMap{
		"rfc3339": rfc3339,
		"day":     func(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 UTC") },
		"bytes":   humanBytes,
	}).ParseFS(templateFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("public: parse templates: %w", err)
	}
	return t, nil
}

func humanBytes(n uint64) string {
	// An if per rule, not a switch: gremlins counts a case's condition as not covered.
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	if n >= 1<<10 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
