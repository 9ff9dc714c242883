package kaltura_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/simtest"
	"github.com/capturebox/capturebox/upload/kaltura"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	fake    *simtest.Server
	clock   *fakeClock
	sess    *kaltura.Session
	id, tok string
	logs    *lockedBuffer
}

// lockedBuffer is a goroutine-safe log sink: the session logs from its
// detached renewal goroutine while a test reads or writes the same buffer.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newEnv(t *testing.T, hashType string, sessionDuration time.Duration) *env {
	t.Helper()
	clk := &fakeClock{t: time.Date(2025, 9, 2, 9, 0, 0, 0, time.UTC)}
	f, err := simtest.New(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	f.Clock = clk.Now
	id, tok, err := f.AddAppToken(hashType, sessionDuration)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := kaltura.New(kaltura.Options{BaseURL: "https://kaltura.test", HTTPClient: &http.Client{Transport: f.Transport()}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s, err := kaltura.NewSession(c, kaltura.SessionConfig{PartnerID: f.PartnerID(), AppTokenID: id, AppToken: tok, HashType: hashType, Clock: clk.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return &env{fake: f, clock: clk, sess: s, id: id, tok: tok, logs: logs}
}

func TestTokenHashMatchesReference(t *testing.T) {
	ks, tok := "djJ8MTIzfAbc", "0123456789abcdef0123456789abcdef"
	ref := map[string]string{
		"":       fmt.Sprintf("%x", sha1.Sum([]byte(ks+tok))),
		"SHA1":   fmt.Sprintf("%x", sha1.Sum([]byte(ks+tok))),
		"md5":    fmt.Sprintf("%x", md5.Sum([]byte(ks+tok))),
		"SHA256": fmt.Sprintf("%x", sha256.Sum256([]byte(ks+tok))),
		"SHA512": fmt.Sprintf("%x", sha512.Sum512([]byte(ks+tok))),
	}
	for ht, want := range ref {
		h, err := kaltura.HashFunc(ht)
		if err != nil {
			t.Fatal(err)
		}
		got := kaltura.TokenHash(h, ks, tok)
		if got != want || got != strings.ToLower(got) {
			t.Errorf("%s: %s want %s", ht, got, want)
		}
		if _, err := hex.DecodeString(got); err != nil {
			t.Error(err)
		}
	}
	if _, err := kaltura.HashFunc("SHA3"); err == nil {
		t.Error("unknown hash accepted")
	}
}

func TestSessionEachHashType(t *testing.T) {
	for _, ht := range []string{"SHA1", "MD5", "SHA256", "SHA512"} {
		t.Run(ht, func(t *testing.T) {
			e := newEnv(t, ht, 0)
			ks, err := e.sess.KS(context.Background())
			if err != nil || ks == "" {
				t.Fatalf("KS: %q %v", ks, err)
			}
			var tok kaltura.UploadToken
			if err := e.sess.Call(context.Background(), "uploadtoken", "add", nil, &tok); err != nil || tok.ID == "" {
				t.Fatalf("call with KS: %v", err)
			}
		})
	}
	// A token configured with the wrong hash type is a config fault naming
	// the settings.
	e := newEnv(t, "SHA256", 0)
	c := e.sess.Client()
	s2, _ := kaltura.NewSession(c, kaltura.SessionConfig{PartnerID: 1234567, AppTokenID: e.id, AppToken: e.tok, HashType: "SHA1", Clock: e.clock.Now})
	_, err := s2.KS(context.Background())
	var ce *kaltura.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(ce.Setting, "kaltura.app_token_hash_type") || kaltura.Code(err) != kaltura.CodeInvalidAppTokenHash {
		t.Fatalf("wrong hash type: %v", err)
	}
}

func TestSessionRenewsAheadOfExpiry(t *testing.T) {
	e := newEnv(t, "SHA256", time.Hour) // the server grants 1 h
	ctx := context.Background()
	ks1, err := e.sess.KS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(30 * time.Minute)
	if ks, _ := e.sess.KS(ctx); ks != ks1 {
		t.Fatal("renewed too early")
	}
	// Margin for 1 h is min(10 min, 12 min) = 10 min: at 50 min it renews.
	e.clock.Add(20*time.Minute + time.Second)
	ks2, err := e.sess.KS(ctx)
	if err != nil || ks2 == ks1 {
		t.Fatalf("not renewed ahead of expiry: %v", err)
	}
	if e.sess.Logins() != 2 {
		t.Errorf("logins %d", e.sess.Logins())
	}
	// The old KS would still have been valid: renewal was ahead of expiry.
	if err := e.sess.Call(ctx, "uploadtoken", "add", nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSessionRenewsOnExpiredAndLogout(t *testing.T) {
	e := newEnv(t, "SHA1", 0)
	ctx := context.Background()
	if err := e.sess.Call(ctx, "uploadtoken", "add", nil, nil); err != nil {
		t.Fatal(err)
	}
	e.fake.ExpireAll() // server-side expiry the box's clock did not foresee
	if err := e.sess.Call(ctx, "uploadtoken", "add", nil, nil); err != nil {
		t.Fatalf("no transparent retry after EXPIRED: %v", err)
	}
	if e.sess.Logins() != 2 {
		t.Errorf("logins %d, want 2", e.sess.Logins())
	}
	// Revoked token (deleted): LOGOUT, then the new session is refused: a
	// config fault, not a retry loop.
	e.fake.DeleteAppToken(e.id)
	err := e.sess.Call(ctx, "uploadtoken", "add", nil, nil)
	var ce *kaltura.ConfigError
	if !errors.As(err, &ce) || ce.Setting != "kaltura.app_token_id" || kaltura.Classify(err) != kaltura.ClassConfig {
		t.Fatalf("revoked token: %v", err)
	}
	if e.sess.Logins() != 3 {
		t.Errorf("logins %d, want 3 (one renewal attempt only)", e.sess.Logins())
	}
	n := 0
	for _, c := range e.fake.Calls() {
		if c.Service == "apptoken" {
			n++
		}
		if c.Service == "session" && c.Action == "end" {
			t.Error("session.end was called")
		}
	}
	if n != 3 {
		t.Errorf("startSession calls %d", n)
	}
}

func TestSessionSharedRenewal(t *testing.T) {
	e := newEnv(t, "SHA1", 0)
	var wg sync.WaitGroup
	kss := make([]string, 50)
	for i := range kss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ks, err := e.sess.KS(context.Background())
			if err != nil {
				t.Error(err)
			}
			kss[i] = ks
		}()
	}
	wg.Wait()
	if e.sess.Logins() != 1 {
		t.Errorf("%d logins for concurrent callers, want 1", e.sess.Logins())
	}
	for _, ks := range kss {
		if ks != kss[0] {
			t.Fatal("callers got different KS")
		}
	}
}

func TestSessionSecretsMasked(t *testing.T) {
	e := newEnv(t, "SHA1", 0)
	ks, err := e.sess.KS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	slog.New(slog.NewTextHandler(e.logs, nil)).Info("session", "s", e.sess)
	out := fmt.Sprintf("%v %s %+v", e.sess, e.sess, e.sess) + e.logs.String()
	for _, secret := range append(e.fake.IssuedKS(), e.tok, ks) {
		if strings.Contains(out, secret) {
			t.Fatalf("secret in output: %s", out)
		}
	}
	if !strings.Contains(out, e.id) {
		t.Error("app token id (not secret) missing from String")
	}
}

func TestSessionConfigValidation(t *testing.T) {
	c, _ := kaltura.New(kaltura.Options{BaseURL: "https://x.test"})
	cases := map[string]kaltura.SessionConfig{
		"kaltura.partner_id":          {AppTokenID: "a", AppToken: "b"},
		"kaltura.app_token_id":        {PartnerID: 1, AppToken: "b"},
		"kaltura.app_token":           {PartnerID: 1, AppTokenID: "a"},
		"kaltura.app_token_hash_type": {PartnerID: 1, AppTokenID: "a", AppToken: "b", HashType: "CRC"},
	}
	for setting, cfg := range cases {
		_, err := kaltura.NewSession(c, cfg)
		var ce *kaltura.ConfigError
		if !errors.As(err, &ce) || ce.Setting != setting {
			t.Errorf("%s: %v", setting, err)
		}
	}
}

func TestBadPartnerIsConfigFault(t *testing.T) {
	e := newEnv(t, "SHA1", 0)
	s, _ := kaltura.NewSession(e.sess.Client(), kaltura.SessionConfig{PartnerID: 99, AppTokenID: e.id, AppToken: e.tok})
	_, err := s.KS(context.Background())
	var ce *kaltura.ConfigError
	if !errors.As(err, &ce) || ce.Setting != "kaltura.partner_id" {
		t.Fatalf("%v", err)
	}
}
