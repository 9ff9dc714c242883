package config

import (
	"strings"
	"testing"
	"time"
)

// Other legal TOML spellings of the same keys: dotted keys, quoted keys,
// inline tables.
func TestOtherTOMLForms(t *testing.T) {
	file := `sync.interval = "5m"
"box" = { name = "Room 9", "timezone" = "Europe/Paris" }

[kaltura]
partner_id = 1_234_567
app_token_id = 'literal_0'
app_token = "` + testToken + `"
resource_id = 0x3A
upload.chunk_size = 1
`
	problems := problemsOf(t, file)
	if len(problems) != 2 || problems[0].Key != "kaltura.app_token_id" || problems[0].Line != 6 ||
		problems[1].Key != "kaltura.upload" || problems[1].Line != 9 {
		t.Fatalf("problems %v", problems)
	}
	file = strings.Replace(file, "'literal_0'", "'0_literal'", 1)
	file = strings.Replace(file, "upload.chunk_size = 1\n", "", 1)
	c := mustParse(t, file)
	if c.Sync.Interval != 5*time.Minute || c.Box.Name != "Room 9" || c.Box.Timezone != "Europe/Paris" ||
		c.Kaltura.PartnerID != 1234567 || c.Kaltura.ResourceID != 58 || c.Kaltura.AppTokenID != "0_literal" {
		t.Errorf("parsed %+v", c)
	}

	// A bad value inside an inline table is reported on its line.
	bad := strings.Replace(file, `"Europe/Paris"`, `"Europe/Pariss"`, 1)
	problems = problemsOf(t, bad)
	if len(problems) != 1 || problems[0].Key != "box.timezone" || problems[0].Line != 2 {
		t.Errorf("problems %v", problems)
	}

	// Set edits a value written as a dotted key or inside an inline table.
	path := writeFile(t, file, 0o600)
	if err := Set(path, "sync.interval", "7m"); err != nil {
		t.Fatal(err)
	}
	if err := Set(path, "box.timezone", "UTC"); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, path)
	want := strings.Replace(strings.Replace(file, `"5m"`, `"7m"`, 1), `"Europe/Paris"`, `"UTC"`, 1)
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if err := Unset(path, "box.timezone"); err == nil {
		t.Error("Unset inside an inline table accepted")
	}
}

func TestEmptyFile(t *testing.T) {
	if p := problemsOf(t, ""); len(p) != len(required) {
		t.Errorf("problems %v", p)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(testFile(nil)))
	f.Add([]byte(commentedFile))
	f.Add([]byte("[box]\nname = \"x\"\n[[box]]\n"))
	f.Add([]byte("a = {b = [1, {c = 2}]}\n"))
	f.Add([]byte("\xEF\xBB\xBF[sync]\r\ninterval = \"2m\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "f")
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse returned %v, %v", c, err)
		}
		if err != nil {
			return
		}
		// A valid file round-trips through its encoding.
		c2, err := Parse(c.encoded(true), "f")
		if err != nil {
			t.Fatalf("encoding of a valid config does not parse: %v", err)
		}
		if string(c2.encoded(true)) != string(c.encoded(true)) {
			t.Fatal("round trip differs")
		}
	})
}

// FuzzSet: whatever the console sends, Set either refuses and leaves the
// file alone, or writes a valid file holding exactly that value.
func FuzzSet(f *testing.F) {
	f.Add(uint8(0), "Room 7")
	f.Add(uint8(5), "x\"\nname = \"y")
	f.Add(uint8(13), "5m")
	f.Add(uint8(35), "a, b ,c")
	f.Add(uint8(35), `["a", "b"]`)
	f.Add(uint8(4), "'single'")
	keys := Keys()
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, k uint8, value string) {
		key := keys[int(k)%len(keys)]
		path := dir + "/capturebox.toml"
		if err := writeAtomic(path, []byte(commentedFile)); err != nil {
			t.Fatal(err)
		}
		lit, litErr := schema.byKey[key].inputLiteral(value)
		err := Set(path, key, value)
		got := readFile(t, path)
		if err != nil {
			if got != commentedFile {
				t.Fatalf("refused Set changed the file: %v", err)
			}
			return
		}
		if litErr != nil {
			t.Fatalf("Set accepted a value inputLiteral refused: %v", litErr)
		}
		c, err := Load(path)
		if err != nil {
			t.Fatalf("Set wrote an invalid file: %v", err)
		}
		want := mustParse(t, commentedFile)
		if err := schema.byKey[key].set(want, mustTOMLValue(t, lit)); err != nil {
			t.Fatal(err)
		}
		want.resolve()
		validate(want, nil, nil) // normalises spellings as Parse does
		if g, w := schema.byKey[key].literal(c, true), schema.byKey[key].literal(want, true); g != w {
			t.Fatalf("after Set %s %q: value %s, want %s", key, value, g, w)
		}
	})
}

func mustTOMLValue(t *testing.T, lit string) any {
	t.Helper()
	v, err := tomlValue(lit)
	if err != nil {
		t.Fatalf("literal %s: %v", lit, err)
	}
	return v
}
