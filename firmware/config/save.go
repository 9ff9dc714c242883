package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/pelletier/go-toml/v2"
)

// FileMode is the mode Save, Set and Unset give the file: it holds secrets.
// (On the FAT boot partition the mount options decide the mode instead.)
const FileMode fs.FileMode = 0o600

// fileMu serialises this process's read-modify-write cycles on config files.
var fileMu sync.Mutex

// Set sets key ("section.key") to value in the file at path, for the
// console's "config set KEY VALUE". The value is written as the key's type
// needs: strings, durations and sizes are quoted for the caller ("5m",
// "4MiB"; a value already in TOML quotes is taken as a TOML string), integers
// and booleans (true/false, yes/no, on/off, 1/0) are written bare, and a list
// is either a TOML array or comma-separated ("a.pool.ntp.org,
// b.pool.ntp.org").
//
// Only the key's value is edited in place (a missing key is added at the end
// of its section), so comments and layout survive. The whole resulting file is
// checked before anything is written: on any problem Set returns a
// *ValidationError and the file is untouched. Then the file is replaced
// atomically (temporary file in the same directory, fsync, rename, fsync of
// the directory) with mode 0600. Errors never contain a secret's value.
func Set(path, key, value string) error {
	f := schema.byKey[key]
	if f == nil {
		sec, name, _ := strings.Cut(key, ".")
		msg := "unknown key"
		if schema.bySec[sec] != nil {
			msg += suggestKey(sec, name)
		} else {
			msg += suggest(key, Keys())
		}
		return &ValidationError{File: path, Problems: []Problem{{Key: key, Msg: msg}}}
	}
	lit, err := f.inputLiteral(value)
	if err != nil {
		return &ValidationError{File: path, Problems: []Problem{{Key: key, Msg: err.Error()}}}
	}
	return editFile(path, func(doc *document) ([]byte, error) {
		return doc.withValues(map[string]string{key: lit}), nil
	})
}

// Unset removes key's line from the file at path, so that the key takes its
// default again. It also removes keys the firmware does not know, which is
// how the console fixes a typo ("config unset sync.intervall"). Like Set, it
// checks the whole result first and writes atomically with mode 0600. A key
// inside an inline table cannot be removed this way.
func Unset(path, key string) error {
	return editFile(path, func(doc *document) ([]byte, error) {
		kp, ok := doc.keys[key]
		if !ok {
			return nil, fmt.Errorf("key %s is not in the file", key)
		}
		if kp.inline {
			return nil, fmt.Errorf("key %s is inside an inline table; edit the file instead", key)
		}
		return doc.apply([]edit{{start: kp.lineStart, end: lineEnd(doc.data, kp.valueEnd)}}), nil
	})
}

// editFile reads the file, changes it with change, checks the result and
// replaces the file atomically.
func editFile(path string, change func(*document) ([]byte, error)) error {
	fileMu.Lock()
	defer fileMu.Unlock()
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	doc, problems := readDocument(data)
	if problems != nil {
		return &ValidationError{File: path, Problems: problems}
	}
	out, err := change(doc)
	if err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	if _, err := Parse(out, path); err != nil {
		return err
	}
	return writeAtomic(path, out)
}

// Save writes c to the file at path. c is checked first (on any problem
// Save returns a *ValidationError, without lines, and writes nothing). If
// the file exists and is valid TOML, only the keys whose values differ are
// edited in place, so comments survive; otherwise (no file, or a file too
// broken to edit) the whole configuration is written afresh, every key
// included. The file is replaced atomically with mode 0600.
func Save(path string, c *Config) error {
	want, err := Parse(c.encoded(true), path)
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			for i := range ve.Problems {
				ve.Problems[i].Line = 0 // lines of our own encoding mean nothing to the caller
			}
		}
		return err
	}
	full := want.encoded(true)

	fileMu.Lock()
	defer fileMu.Unlock()
	out := full
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		if edited, ok := editedCopy(old, want, full, path); ok {
			out = edited
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("config: %w", err)
	}
	return writeAtomic(path, out)
}

// editedCopy edits the keys of old that differ from want, and reports
// whether the result parses to exactly want.
func editedCopy(old []byte, want *Config, full []byte, path string) ([]byte, bool) {
	doc, problems := readDocument(old)
	if problems != nil {
		return nil, false
	}
	prev, _ := doc.decode()
	validate(prev, doc, nil) // only to normalise spellings as Parse does
	changes := map[string]string{}
	for _, f := range schema.fields {
		if l := f.literal(want, true); l != f.literal(prev, true) {
			changes[f.key] = l
		}
	}
	edited := doc.withValues(changes)
	got, err := Parse(edited, path)
	if err != nil || !bytes.Equal(got.encoded(true), full) {
		return nil, false
	}
	return edited, true
}

// errSyncUnsupported is what fsync of a directory returns on file systems
// that do not support it.
var errSyncUnsupported = syscall.EINVAL

// edit replaces data[start:end] with text.
type edit struct {
	start, end int
	text       string
}

// apply makes non-overlapping edits and restores a byte-order mark.
func (doc *document) apply(edits []edit) []byte {
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	var b bytes.Buffer
	if doc.bom {
		b.Write(utf8BOM)
	}
	pos := 0
	for _, e := range edits {
		b.Write(doc.data[pos:e.start])
		b.WriteString(e.text)
		pos = e.end
	}
	b.Write(doc.data[pos:])
	return b.Bytes()
}

// withValues sets each "section.key" to a TOML literal: in place where the
// key is written, at the end of its [section] where it is not, and in a new
// [section] at the end of the file where there is no such header.
func (doc *document) withValues(values map[string]string) []byte {
	nl := "\n"
	if bytes.Contains(doc.data, []byte("\r\n")) {
		nl = "\r\n"
	}
	var edits []edit
	newSections := map[string][]string{}
	for _, f := range schema.fields { // file order, for a tidy result
		lit, ok := values[f.key]
		if !ok {
			continue
		}
		line := f.name + " = " + lit
		if kp, ok := doc.keys[f.key]; ok {
			edits = append(edits, edit{start: kp.valueStart, end: kp.valueEnd, text: lit})
			continue
		}
		if t, ok := doc.tables[f.section]; ok && t.hasHeader {
			text := line + nl
			if t.insertAt == len(doc.data) && len(doc.data) > 0 && doc.data[len(doc.data)-1] != '\n' {
				text = nl + text
			}
			edits = append(edits, edit{start: t.insertAt, end: t.insertAt, text: text})
			continue
		}
		newSections[f.section] = append(newSections[f.section], line)
	}
	var tail strings.Builder
	for _, sec := range schema.sections {
		lines := newSections[sec.name]
		if len(lines) == 0 {
			continue
		}
		if tail.Len() > 0 || len(doc.data) > 0 {
			tail.WriteString(nl)
		}
		tail.WriteString("[" + sec.name + "]" + nl)
		for _, l := range lines {
			tail.WriteString(l + nl)
		}
	}
	if tail.Len() > 0 {
		text := tail.String()
		if len(doc.data) > 0 && doc.data[len(doc.data)-1] != '\n' {
			text = nl + text
		}
		edits = append(edits, edit{start: len(doc.data), end: len(doc.data), text: text})
	}
	return doc.apply(edits)
}

// inputLiteral turns a console value into the TOML literal for the field.
// Messages never contain a secret's value.
func (f *field) inputLiteral(in string) (string, error) {
	switch f.kind {
	case kindString, kindSecret, kindDuration, kindSize:
		s := in
		if strings.HasPrefix(s, `"`) || strings.HasPrefix(s, `'`) {
			v, err := tomlValue(s)
			str, ok := v.(string)
			if err != nil || !ok {
				return "", errors.New("is not a valid TOML string (check the quotes)")
			}
			s = str
		}
		return quote(s), nil
	case kindBool:
		switch strings.ToLower(in) {
		case "true", "yes", "on", "1":
			return "true", nil
		case "false", "no", "off", "0":
			return "false", nil
		}
		return "", fmt.Errorf("%q is not true or false", in)
	case kindInt:
		n, err := strconv.ParseInt(strings.ReplaceAll(in, "_", ""), 10, 64)
		if err != nil {
			return "", fmt.Errorf("%q is not an integer", in)
		}
		return strconv.FormatInt(n, 10), nil
	case kindStrings:
		var items []string
		if strings.HasPrefix(strings.TrimSpace(in), "[") {
			v, err := tomlValue(in)
			arr, ok := v.([]any)
			if err != nil || !ok {
				return "", errors.New("is not a valid TOML array of strings")
			}
			for _, e := range arr {
				s, ok := e.(string)
				if !ok {
					return "", errors.New("is not a valid TOML array of strings")
				}
				items = append(items, s)
			}
		} else {
			for _, s := range strings.Split(in, ",") {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
		}
		parts := make([]string, len(items))
		for i, s := range items {
			parts[i] = quote(s)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	}
	panic("unreachable")
}

// tomlValue parses one TOML value.
func tomlValue(s string) (any, error) {
	var m map[string]any
	if err := toml.Unmarshal([]byte("v = "+s), &m); err != nil {
		return nil, err
	}
	return m["v"], nil
}

// writeAtomic replaces the file at path with data: a temporary file in the
// same directory, written, synced, renamed over path, then the directory
// synced, so that a crash leaves either the old file or the new one.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // created 0600
	if err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if fi, serr := tmp.Stat(); serr == nil && fi.Mode().Perm() != FileMode {
		_ = tmp.Chmod(FileMode) // best effort: FAT refuses, its mount options rule
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		serr := d.Sync()
		_ = d.Close()
		if serr != nil && !errors.Is(serr, errSyncUnsupported) {
			return fmt.Errorf("config: write %s: sync directory: %w", path, serr)
		}
	}
	return nil
}
