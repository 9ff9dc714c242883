package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Load reads and parses the file at path. It returns either a complete,
// valid configuration or nil and an error: a *ValidationError listing every
// problem, or an error from reading the file. It never returns a partially
// valid configuration, so the caller can keep its last good one.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse parses a configuration file's contents; name is the file name used
// in problems. Defaults apply to missing keys, then every value is checked
// (this reads the time zone database and, if kaltura.ca_file is set, that
// file). On any problem it returns nil and a *ValidationError.
func Parse(data []byte, name string) (*Config, error) {
	c, problems := parse(data)
	if len(problems) > 0 {
		return nil, &ValidationError{File: name, Problems: problems}
	}
	return c, nil
}

// Check loads the file at path and returns its problems, nil when it is
// valid. A file that cannot be read is one problem without a key or line.
// Format each with Problem.In(path).
func Check(path string) []Problem {
	_, err := Load(path)
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Problems
	}
	return []Problem{{Msg: err.Error()}}
}

// parse is Parse without the error wrapping.
func parse(data []byte) (*Config, []Problem) {
	doc, problems := readDocument(data)
	if len(problems) > 0 {
		return nil, problems
	}
	c, problems := doc.decode()
	skip := map[string]bool{}
	for _, p := range problems {
		skip[p.Key] = true
	}
	problems = append(problems, validate(c, doc, skip)...)
	if len(problems) > 0 {
		sortProblems(problems)
		return nil, problems
	}
	return c, nil
}

// document is a syntactically valid TOML file with the position of every
// key.
type document struct {
	data   []byte // without a byte-order mark
	bom    bool
	raw    map[string]any
	keys   map[string]keyPos   // "section.key" (any depth) -> where
	tables map[string]tablePos // "[section]" headers
}

type keyPos struct {
	line       int
	lineStart  int  // offset of the start of the key's first line
	valueStart int  // offset of the value
	valueEnd   int  // offset just past the value
	inline     bool // inside an inline table
}

type tablePos struct {
	line      int
	insertAt  int // offset just past the line of the header or its last key
	hasHeader bool
}

var utf8BOM = []byte("\xEF\xBB\xBF")

// readDocument parses data as TOML (with go-toml's full checks: syntax,
// duplicate keys, redefined tables) and locates every key.
func readDocument(data []byte) (*document, []Problem) {
	doc := &document{data: data, keys: map[string]keyPos{}, tables: map[string]tablePos{}}
	if bytes.HasPrefix(data, utf8BOM) {
		doc.data, doc.bom = data[len(utf8BOM):], true
	}
	if err := toml.Unmarshal(doc.data, &doc.raw); err != nil {
		return nil, []Problem{syntaxProblem(doc.data, err)}
	}
	if err := doc.locate(); err != nil {
		return nil, []Problem{syntaxProblem(doc.data, err)}
	}
	return doc, nil
}

var keyLineRE = regexp.MustCompile(`^\s*["']?([A-Za-z0-9_.-]+?)["']?\s*=`)

// syntaxProblem turns a TOML error into a Problem with its line. A message
// about a line that assigns a secret is replaced, since parser messages may
// quote a character of the value.
func syntaxProblem(data []byte, err error) Problem {
	p := Problem{Msg: "invalid TOML: " + strings.TrimPrefix(err.Error(), "toml: ")}
	var de *toml.DecodeError
	var pe *unstable.ParserError
	switch {
	case errors.As(err, &de):
		p.Line, _ = de.Position()
	case errors.As(err, &pe) && pe.Highlight != nil:
		off := cap(data) - cap(pe.Highlight)
		if off >= 0 && off <= len(data) {
			p.Line = lineOf(data, off)
		}
	}
	if p.Line > 0 {
		lines := bytes.Split(data, []byte("\n"))
		if p.Line <= len(lines) {
			if m := keyLineRE.FindSubmatch(lines[p.Line-1]); m != nil {
				k := string(m[1])
				last := k[strings.LastIndexByte(k, '.')+1:]
				for _, f := range schema.fields {
					if f.kind == kindSecret && (f.name == last || f.key == k) {
						p.Key = f.key
						p.Msg = "invalid TOML in the value of a secret (not shown): check its quotes and escapes"
					}
				}
			}
		}
	}
	return p
}

func lineOf(data []byte, off int) int {
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// lineEnd returns the offset just past the newline that ends the line
// containing off (or len(data)).
func lineEnd(data []byte, off int) int {
	if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
		return off + i + 1
	}
	return len(data)
}

func lineStart(data []byte, off int) int {
	return bytes.LastIndexByte(data[:off], '\n') + 1
}

// locate walks the TOML syntax tree and records where each key and table is.
func (doc *document) locate() error {
	var p unstable.Parser
	p.Reset(doc.data)
	var cur []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			parts, first, last := keyParts(e)
			cur = parts
			name := strings.Join(parts, ".")
			end := lineEnd(doc.data, int(last.Raw.Offset+last.Raw.Length))
			if _, ok := doc.tables[name]; !ok {
				doc.tables[name] = tablePos{line: lineOf(doc.data, int(first.Raw.Offset)), insertAt: end, hasHeader: true}
			}
		case unstable.KeyValue:
			end := doc.addKeyValue(e, cur, false)
			name := strings.Join(cur, ".")
			if t, ok := doc.tables[name]; ok && len(cur) > 0 {
				t.insertAt = lineEnd(doc.data, end)
				doc.tables[name] = t
			}
		}
	}
	return p.Error()
}

func keyParts(n *unstable.Node) (parts []string, first, last *unstable.Node) {
	it := n.Key()
	for it.Next() {
		k := it.Node()
		if first == nil {
			first = k
		}
		last = k
		parts = append(parts, string(k.Data))
	}
	return parts, first, last
}

// addKeyValue records a key-value node (and those of an inline table value)
// and returns the offset just past its value.
func (doc *document) addKeyValue(e *unstable.Node, prefix []string, inline bool) int {
	parts, first, last := keyParts(e)
	full := append(append([]string(nil), prefix...), parts...)
	afterKey := int(last.Raw.Offset + last.Raw.Length)
	vs := afterKey + bytes.IndexByte(doc.data[afterKey:], '=') + 1
	for vs < len(doc.data) && (doc.data[vs] == ' ' || doc.data[vs] == '\t') {
		vs++
	}
	ve := int(e.Raw.Offset + e.Raw.Length)
	start := int(first.Raw.Offset)
	doc.keys[strings.Join(full, ".")] = keyPos{
		line:       lineOf(doc.data, start),
		lineStart:  lineStart(doc.data, start),
		valueStart: vs,
		valueEnd:   ve,
		inline:     inline,
	}
	if v := e.Value(); v.Kind == unstable.InlineTable {
		it := v.Children()
		for it.Next() {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				doc.addKeyValue(c, full, true)
			}
		}
	}
	return ve
}

// line returns the line of a key or table, 0 if it is not in the file.
func (doc *document) line(key string) int {
	if doc == nil {
		return 0
	}
	if k, ok := doc.keys[key]; ok {
		return k.line
	}
	if t, ok := doc.tables[key]; ok {
		return t.line
	}
	// A table made implicitly by dotted keys: the first of them.
	line := 0
	for k, kp := range doc.keys {
		if strings.HasPrefix(k, key+".") && (line == 0 || kp.line < line) {
			line = kp.line
		}
	}
	for k, t := range doc.tables {
		if strings.HasPrefix(k, key+".") && (line == 0 || t.line < line) {
			line = t.line
		}
	}
	return line
}

// decode applies the document's values over the defaults. It returns the
// configuration (possibly with some values left at their defaults) and the
// problems of unknown keys and wrong types.
func (doc *document) decode() (*Config, []Problem) {
	c := Default()
	c.Recording.Dir = "" // resolved below, after data_dir is known
	var problems []Problem
	add := func(key, format string, args ...any) {
		problems = append(problems, Problem{Key: key, Line: doc.line(key), Msg: fmt.Sprintf(format, args...)})
	}
	names := make([]string, 0, len(doc.raw))
	for name := range doc.raw {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		sec := schema.bySec[name]
		if sec == nil {
			add(name, "unknown section [%s]%s", name, suggest(name, sectionNames()))
			continue
		}
		tbl, ok := doc.raw[name].(map[string]any)
		if !ok {
			add(name, "must be a table, written [%s], not %s", name, tomlTypeName(doc.raw[name]))
			continue
		}
		keys := make([]string, 0, len(tbl))
		for k := range tbl {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			full := name + "." + k
			f := schema.byKey[full]
			if f == nil {
				add(full, "unknown key%s", suggestKey(name, k))
				continue
			}
			if err := f.set(c, tbl[k]); err != nil {
				add(full, "%v", err)
			}
		}
	}
	c.resolve()
	return c, problems
}

func sectionNames() []string {
	out := make([]string, len(schema.sections))
	for i, s := range schema.sections {
		out[i] = s.name
	}
	return out
}

// suggestKey proposes the key a typo in [sec] probably meant.
func suggestKey(sec, key string) string {
	var names []string
	for _, f := range schema.bySec[sec].fields {
		names = append(names, f.name)
	}
	if s := suggest(key, names); s != "" {
		return s
	}
	for _, f := range schema.fields {
		if f.name == key {
			return fmt.Sprintf(" (%s belongs in [%s])", key, f.section)
		}
	}
	return ""
}

func suggest(word string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(word, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
