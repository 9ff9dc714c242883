package kaltura

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SessionConfig configures an app-token Session (kaltura.md §3).
type SessionConfig struct {
	PartnerID  int64
	AppTokenID string
	// AppToken is the secret token value. It is never logged.
	AppToken string
	// HashType is the token's hashType: SHA1 (Kaltura's default, used when
	// empty), MD5, SHA256 or SHA512.
	HashType string
	// Expiry is the session lifetime asked for; default 24 h. The server may
	// grant less (token sessionDuration, token expiry).
	Expiry time.Duration
	// RenewMargin: the KS is renewed this long before it expires. Default
	// 10 min, or a fifth of the granted lifetime when that is shorter.
	RenewMargin time.Duration
	// Clock is the time source for expiry decisions; default time.Now.
	Clock  func() time.Time
	Logger *slog.Logger
}

// Session holds the box's KS, obtained from an app token, for both schedule
// sync and upload. It renews the KS ahead of expiry and after INVALID_KS
// EXPIRED/LOGOUT; concurrent callers share one renewal. It never calls
// session.end (that would revoke every box's sessions for a day).
//
// A Session is safe for concurrent use. Its String and LogValue mask the KS
// and the token.
type Session struct {
	c     *Client
	cfg   SessionConfig
	hash  func() hash.Hash
	clock func() time.Time
	log   *slog.Logger

	mu       sync.Mutex
	ks       string
	renewAt  time.Time
	inflight *renewal
	logins   int
}

type renewal struct {
	done chan struct{}
	ks   string
	err  error
}

// HashFunc returns the hash constructor for a token hashType name
// (case-insensitive; "" = SHA1).
func HashFunc(name string) (func() hash.Hash, error) {
	switch strings.ToUpper(strings.TrimSpace(name)) {
	case "", "SHA1":
		return sha1.New, nil
	case "MD5":
		return md5.New, nil
	case "SHA256":
		return sha256.New, nil
	case "SHA512":
		return sha512.New, nil
	}
	return nil, fmt.Errorf("unknown app token hash type %q (want SHA1, MD5, SHA256 or SHA512)", name)
}

// TokenHash returns lowercase hex of HASH(widgetKS ‖ token), the tokenHash
// of appToken.startSession.
func TokenHash(h func() hash.Hash, widgetKS, token string) string {
	d := h()
	io.WriteString(d, widgetKS)
	io.WriteString(d, token)
	return hex.EncodeToString(d.Sum(nil))
}

// NewSession returns a Session; it makes no call until a KS is needed.
func NewSession(c *Client, cfg SessionConfig) (*Session, error) {
	h, err := HashFunc(cfg.HashType)
	if err != nil {
		return nil, &ConfigError{Setting: "kaltura.app_token_hash_type", Err: err}
	}
	if cfg.PartnerID <= 0 {
		return nil, &ConfigError{Setting: "kaltura.partner_id", Err: errors.New("partner id must be positive")}
	}
	if cfg.AppTokenID == "" {
		return nil, &ConfigError{Setting: "kaltura.app_token_id", Err: errors.New("app token id is empty")}
	}
	if cfg.AppToken == "" {
		return nil, &ConfigError{Setting: "kaltura.app_token", Err: errors.New("app token is empty")}
	}
	if cfg.Expiry <= 0 {
		cfg.Expiry = 24 * time.Hour
	}
	s := &Session{c: c, cfg: cfg, hash: h, clock: cfg.Clock, log: cfg.Logger}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Client returns the underlying client.
func (s *Session) Client() *Client { return s.c }

// String masks the secrets.
func (s *Session) String() string {
	s.mu.Lock()
	has := s.ks != ""
	s.mu.Unlock()
	return fmt.Sprintf("kaltura.Session{partner:%d appToken:%s ks:%s}", s.cfg.PartnerID, s.cfg.AppTokenID, mask(has))
}

// LogValue implements slog.LogValuer without secrets.
func (s *Session) LogValue() slog.Value {
	s.mu.Lock()
	has := s.ks != ""
	renewAt := s.renewAt
	s.mu.Unlock()
	return slog.GroupValue(slog.Int64("partner", s.cfg.PartnerID), slog.String("app_token_id", s.cfg.AppTokenID),
		slog.String("ks", mask(has)), slog.Time("renew_at", renewAt))
}

func mask(has bool) string {
	if has {
		return "[set]"
	}
	return "[none]"
}

// Logins returns how many app-token sessions were started (for tests and
// the console).
func (s *Session) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// KS returns a valid KS, starting or renewing the session when needed.
func (s *Session) KS(ctx context.Context) (string, error) {
	s.mu.Lock()
	if s.ks != "" && s.clock().Before(s.renewAt) {
		ks := s.ks
		s.mu.Unlock()
		return ks, nil
	}
	r := s.inflight
	if r == nil {
		r = &renewal{done: make(chan struct{})}
		s.inflight = r
		s.mu.Unlock()
		// The renewal is shared: one caller's cancellation must not fail the
		// others, so it runs detached (bounded by the client's call timeout).
		go s.renew(context.WithoutCancel(ctx), r)
	} else {
		s.mu.Unlock()
	}
	select {
	case <-r.done:
		return r.ks, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (s *Session) renew(ctx context.Context, r *renewal) {
	ks, until, err := s.login(ctx)
	s.mu.Lock()
	s.logins++
	if err == nil {
		s.ks, s.renewAt = ks, until
	}
	s.inflight = nil
	s.mu.Unlock()
	r.ks, r.err = ks, err
	close(r.done)
	if err != nil {
		s.log.Warn("kaltura session start failed", "err", err)
	} else {
		s.log.Info("kaltura session started", "session", s, "renew_at", until)
	}
}

// Invalidate drops ks if it is still the cached KS, so that the next KS call
// renews (used after INVALID_KS EXPIRED/LOGOUT).
func (s *Session) Invalidate(ks string) {
	s.mu.Lock()
	if s.ks == ks {
		s.ks = ""
	}
	s.mu.Unlock()
}

// login runs the two-step app-token flow and returns the KS and the local
// time at which to renew it.
func (s *Session) login(ctx context.Context) (string, time.Time, error) {
	var w SessionInfo
	err := s.c.Call(ctx, "", "session", "startWidgetSession", url.Values{
		"widgetId": {"_" + strconv.FormatInt(s.cfg.PartnerID, 10)},
		"expiry":   {"86400"},
	}, &w)
	if err != nil {
		if Classify(err) == ClassConfig {
			return "", time.Time{}, &ConfigError{Setting: "kaltura.partner_id", Err: err}
		}
		return "", time.Time{}, fmt.Errorf("starting widget session: %w", err)
	}
	if w.KS == "" {
		return "", time.Time{}, &HTTPError{Service: "session", Action: "startWidgetSession", StatusCode: 200, Detail: "reply has no ks"}
	}
	now := s.clock()
	var info SessionInfo
	err = s.c.Call(ctx, w.KS, "apptoken", "startSession", url.Values{
		"id":        {s.cfg.AppTokenID},
		"tokenHash": {TokenHash(s.hash, w.KS, s.cfg.AppToken)},
		"expiry":    {strconv.FormatInt(int64(s.cfg.Expiry/time.Second), 10)},
	}, &info)
	if err != nil {
		switch Code(err) {
		case CodeInvalidAppTokenHash:
			return "", time.Time{}, &ConfigError{Setting: "kaltura.app_token and kaltura.app_token_hash_type", Err: err}
		case CodeAppTokenIDNotFound, CodeAppTokenNotActive, CodeAppTokenExpired:
			return "", time.Time{}, &ConfigError{Setting: "kaltura.app_token_id", Err: err}
		}
		if Classify(err) == ClassConfig {
			return "", time.Time{}, &ConfigError{Setting: "kaltura.app_token_id", Err: err}
		}
		return "", time.Time{}, fmt.Errorf("starting app-token session: %w", err)
	}
	if info.KS == "" {
		return "", time.Time{}, &HTTPError{Service: "apptoken", Action: "startSession", StatusCode: 200, Detail: "reply has no ks"}
	}
	return info.KS, s.renewTime(now, int64(info.Expiry)), nil
}

// renewTime decides when to renew a KS obtained at now whose absolute expiry
// the server reported as expiry (Unix seconds). The box's clock may be off
// (no RTC), so the lifetime is clamped to what was asked for.
func (s *Session) renewTime(now time.Time, expiry int64) time.Time {
	life := s.cfg.Expiry
	if expiry > 0 {
		if d := time.Unix(expiry, 0).Sub(now); d > 0 && d < life {
			life = d
		}
	}
	margin := s.cfg.RenewMargin
	if margin <= 0 {
		margin = 10 * time.Minute
		if life/5 < margin {
			margin = life / 5
		}
	}
	if margin > life {
		margin = life
	}
	return now.Add(life - margin)
}

// do runs fn with a KS, and once more with a fresh KS if fn fails with
// INVALID_KS EXPIRED or LOGOUT.
func (s *Session) do(ctx context.Context, fn func(ks string) error) error {
	ks, err := s.KS(ctx)
	if err != nil {
		return err
	}
	err = fn(ks)
	if Classify(err) != ClassReAuth {
		return err
	}
	s.log.Info("kaltura session rejected; renewing", "err", err)
	s.Invalidate(ks)
	ks, err2 := s.KS(ctx)
	if err2 != nil {
		return err2
	}
	return fn(ks)
}

// Call makes an API call with the session's KS (see Client.Call).
func (s *Session) Call(ctx context.Context, service, action string, params url.Values, out any) error {
	return s.do(ctx, func(ks string) error { return s.c.Call(ctx, ks, service, action, params, out) })
}

// CallRaw makes a raw call with the session's KS (see Client.CallRaw); the
// schedule fetcher uses it with Format "ical".
func (s *Session) CallRaw(ctx context.Context, req RawRequest) (*RawResponse, error) {
	var resp *RawResponse
	err := s.do(ctx, func(ks string) error {
		var err error
		resp, err = s.c.CallRaw(ctx, ks, req)
		return err
	})
	return resp, err
}

// Multi sends a multirequest with the session's KS. It is retried with a
// fresh KS only when no sub-call succeeded and one failed for re-auth.
func (s *Session) Multi(ctx context.Context, reqs []Request) ([]Result, error) {
	var res []Result
	err := s.do(ctx, func(ks string) error {
		var err error
		res, err = s.c.Multi(ctx, ks, reqs)
		if err != nil {
			return err
		}
		var reauth error
		for _, r := range res {
			if r.Err == nil {
				return nil
			}
			if Classify(r.Err) == ClassReAuth {
				reauth = r.Err
			}
		}
		return reauth
	})
	if err != nil && res != nil && Classify(err) == ClassReAuth {
		return res, nil // second attempt also rejected: report inline
	}
	return res, err
}

// Upload sends a chunk with the session's KS. A chunk whose Data is an
// io.Seeker (io.SectionReader) is rewound and resent once after a re-auth.
func (s *Session) Upload(ctx context.Context, ch Chunk) (*UploadToken, error) {
	var start int64 = -1
	if sk, ok := ch.Data.(io.Seeker); ok {
		if p, err := sk.Seek(0, io.SeekCurrent); err == nil {
			start = p
		}
	}
	var tok *UploadToken
	first := true
	err := s.do(ctx, func(ks string) error {
		if !first {
			sk, ok := ch.Data.(io.Seeker)
			if !ok || start < 0 {
				return errors.New("kaltura: uploadToken.upload: KS renewed but the chunk cannot be resent")
			}
			if _, err := sk.Seek(start, io.SeekStart); err != nil {
				return fmt.Errorf("kaltura: rewinding chunk: %w", err)
			}
		}
		first = false
		var err error
		tok, err = s.c.Upload(ctx, ks, ch)
		return err
	})
	return tok, err
}
