// Package kalturasim is a Kaltura API v3 simulator that answers the way the
// real server does, quirks included (kaltura.md §0, §3–§6, §8): request
// decoding (path pairs, query, JSON only for the exact content type, flat
// `a:b` keys, `__null`), JSON/XML/iCal responses with HTTP-200 errors,
// multirequest, widget and app-token sessions with v2 KS strings,
// revocation, the CAPTURE_DEVICE role, chunked upload tokens, media entries
// with template copy, fault injection and admin controls for tests.
//
// A Server is an http.Handler. Other packages add services with Register
// (the schedule package registers schedule_scheduleevent and
// schedule_scheduleresource). Every decision is a function of the state and
// the simulator clock, which tests inject or advance.
package kalturasim

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// Defaults of the simulated server configuration.
const (
	DefaultPartnerID               = 1234567
	DefaultAdminSecret             = "0123456789abcdef0123456789abcdef"
	DefaultUserSecret              = "fedcba9876543210fedcba9876543210"
	DefaultFinalChunkMaxAppendTime = 45 * time.Second
	DefaultUploadMaxResumeTime     = 7 * 24 * time.Hour
	DefaultProcessingDelay         = 30 * time.Second
	DefaultMaxRequestBody          = 2 << 30
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Clock is the simulator's time source; nil means time.Now. The Server
	// adds its own settable offset (AdvanceClock) on top.
	Clock func() time.Time
	// Sleep waits d or until ctx ends. It drives the final-chunk polling
	// and slow-response faults. nil means a timer (fake inside a synctest
	// bubble). Tests that do not use synctest inject one that advances the
	// clock or makes progress and returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives request logs; nil discards them. KS strings, app
	// tokens and secrets are never logged.
	Logger *slog.Logger
	// Seed seeds the random source of ids and faults; 0 picks one at random.
	Seed uint64
	// Rand, when set, supplies the random bytes inside KS strings.
	Rand io.Reader
	// DataDir holds uploaded chunks and entry content. "" means a temporary
	// directory removed by Close.
	DataDir string
	// PartnerID and AdminSecret of the seeded partner (defaults above).
	PartnerID   int64
	AdminSecret string
	// ServiceURL is the `proto://host` returned as uploadUrl; "" derives it
	// from each request.
	ServiceURL string
	// FinalChunkMaxAppendTime is upload_final_chunk_max_append_time: how
	// long a final chunk waits, polling once a second, for parked chunks.
	FinalChunkMaxAppendTime time.Duration
	// UploadMaxResumeTime is upload_token_max_resume_time (7 days).
	UploadMaxResumeTime time.Duration
	// ProcessingDelay is how long an entry stays in PRECONVERT after its
	// content arrived before it becomes READY.
	ProcessingDelay time.Duration
	// MaxRequestBody bounds one request body (default 2 GiB).
	MaxRequestBody int64
	// PermissionsFile is the CAPTURE_DEVICE permission table
	// (capture-device-permissions.tsv). "" finds it with
	// FindPermissionsFile; New fails when it cannot be found or read.
	PermissionsFile string
}

// Server is the simulated Kaltura API. Create it with New.
type Server struct {
	opts    Options
	log     *slog.Logger
	dataDir string
	tempDir bool // dataDir was created by New and is removed by Close

	clockMu sync.Mutex
	offset  time.Duration

	rngMu sync.Mutex
	rng   *rand.Rand

	regMu    sync.RWMutex
	registry map[string]map[string]*handler

	mu           sync.Mutex
	partners     map[int64]*partner
	users        map[int64]map[string]*User // partner → user id → user
	appTokens    map[string]*AppToken
	invalid      map[string]time.Time // invalidated session keys → until
	expiredKS    map[string]bool      // KS strings expired by a fault
	uploadTokens map[string]*uploadToken
	beacons      beaconStore
	entries      map[string]*entry
	entryOrder   []string

	faults *Faults
	perms  *Permissions

	adminMounts map[string]http.Handler

	closeOnce sync.Once
	closed    chan struct{}
}

// handler is one registered action.
type handler struct {
	fn     func(r *call) (any, error)
	noKS   bool // callable without a KS
	admin  bool // needs an admin session
	widget bool // a widget session may call it
}

// call is one (sub-)request as an action sees it.
type call struct {
	ctx     context.Context
	caller  kapi.Caller
	p       kapi.Params
	files   map[string]*upFile
	service string
	action  string
	ks      string // the raw ks param
	baseURL string // proto://host of the request
	// header collects response headers an action adds (the
	// KalturaBaseEntry-<property>-error of a dropped insert-only field);
	// nil for in-process calls.
	header http.Header
}

// addHeader adds a response header, if the call has a response.
func (r *call) addHeader(k, v string) {
	if r.header != nil {
		r.header.Add(k, v)
	}
}

// New returns a Server with one seeded partner (Options.PartnerID) and its
// admin user. It creates DataDir (or a temporary directory).
func New(opts Options) (*Server, error) {
	if opts.PartnerID == 0 {
		opts.PartnerID = DefaultPartnerID
	}
	if opts.AdminSecret == "" {
		opts.AdminSecret = DefaultAdminSecret
	}
	if opts.FinalChunkMaxAppendTime == 0 {
		opts.FinalChunkMaxAppendTime = DefaultFinalChunkMaxAppendTime
	}
	if opts.UploadMaxResumeTime == 0 {
		opts.UploadMaxResumeTime = DefaultUploadMaxResumeTime
	}
	if opts.ProcessingDelay == 0 {
		opts.ProcessingDelay = DefaultProcessingDelay
	}
	if opts.MaxRequestBody == 0 {
		opts.MaxRequestBody = DefaultMaxRequestBody
	}
	if opts.PermissionsFile == "" {
		p, err := FindPermissionsFile()
		if err != nil {
			return nil, err
		}
		opts.PermissionsFile = p
	}
	perms, err := LoadPermissions(opts.PermissionsFile)
	if err != nil {
		return nil, err
	}
	seed := opts.Seed
	if seed == 0 {
		var b [8]byte
		if _, err := crand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("kalturasim: seed: %w", err)
		}
		seed = binary.LittleEndian.Uint64(b[:])
	}
	s := &Server{
		opts:         opts,
		log:          opts.Logger,
		rng:          rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		registry:     map[string]map[string]*handler{},
		partners:     map[int64]*partner{},
		users:        map[int64]map[string]*User{},
		appTokens:    map[string]*AppToken{},
		invalid:      map[string]time.Time{},
		expiredKS:    map[string]bool{},
		uploadTokens: map[string]*uploadToken{},
		entries:      map[string]*entry{},
		closed:       make(chan struct{}),
		perms:        perms,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.faults = newFaults(s)
	if opts.DataDir == "" {
		d, err := os.MkdirTemp("", "kalturasim-")
		if err != nil {
			return nil, fmt.Errorf("kalturasim: data dir: %w", err)
		}
		s.dataDir, s.tempDir = d, true
	} else {
		s.dataDir = opts.DataDir
	}
	for _, sub := range []string{"tmp", "uploads", "entries"} {
		if err := os.MkdirAll(filepath.Join(s.dataDir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("kalturasim: data dir: %w", err)
		}
	}
	s.addPartner(opts.PartnerID, opts.AdminSecret)
	s.registerBuiltins()
	return s, nil
}

// Close ends blocked (timeout-fault) requests and removes a temporary data
// directory.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	if s.tempDir {
		if err := os.RemoveAll(s.dataDir); err != nil {
			return fmt.Errorf("kalturasim: remove data dir: %w", err)
		}
	}
	return nil
}

// Now returns the simulator time: the clock plus the offset set by
// AdvanceClock.
func (s *Server) Now() time.Time {
	s.clockMu.Lock()
	off := s.offset
	s.clockMu.Unlock()
	now := time.Now
	if s.opts.Clock != nil {
		now = s.opts.Clock
	}
	return now().Add(off)
}

// AdvanceClock moves the simulator clock forward by d (backward if d < 0).
func (s *Server) AdvanceClock(d time.Duration) {
	s.clockMu.Lock()
	s.offset += d
	s.clockMu.Unlock()
}

// sleep waits d with the injected sleeper, or a timer.
func (s *Server) sleep(ctx context.Context, d time.Duration) error {
	if s.opts.Sleep != nil {
		return s.opts.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return fmt.Errorf("kalturasim: server closed")
	}
}

// Register adds (or replaces) a service action. Service and action names
// are case-insensitive. The action needs a valid KS; the role check of
// CAPTURE_DEVICE_ROLE applies (roles.go).
func (s *Server) Register(service, action string, a kapi.Action) {
	s.register(service, action, &handler{fn: func(r *call) (any, error) { return a(r.caller, r.p) }})
}

// RegisterFunc is the shape of Register, for packages that take a
// registration callback (schedule.Store.Register).
func (s *Server) RegisterFunc() func(service, action string, a kapi.Action) {
	return s.Register
}

func (s *Server) register(service, action string, h *handler) {
	service, action = strings.ToLower(service), strings.ToLower(action)
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if s.registry[service] == nil {
		s.registry[service] = map[string]*handler{}
	}
	s.registry[service][action] = h
}

func (s *Server) lookup(service, action string) (*handler, *kapi.Exception) {
	s.regMu.RLock()
	defer s.regMu.RUnlock()
	acts, ok := s.registry[service]
	if !ok {
		return nil, errServiceDoesNotExist(service)
	}
	h, ok := acts[action]
	if !ok {
		return nil, errActionDoesNotExist(service, action)
	}
	return h, nil
}

// Call runs one action in process as caller c, with the role checks of a
// real request (the FTP front uses it with a logged-in user's Caller).
// c.Now is set to the simulator time of the call.
func (s *Server) Call(ctx context.Context, c kapi.Caller, service, action string, p kapi.Params) (any, error) {
	service, action = strings.ToLower(service), strings.ToLower(action)
	h, ex := s.lookup(service, action)
	if ex != nil {
		return nil, ex
	}
	c.Now = s.Now()
	if ex := s.authorize(h, c, service, action); ex != nil {
		return nil, ex
	}
	if p == nil {
		p = kapi.Params{}
	}
	return h.fn(&call{ctx: ctx, caller: c, p: p, service: service, action: action})
}

// randIntn returns a random int in [0,n) from the seeded source.
func (s *Server) randIntn(n int) int {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.IntN(n)
}

// randFloat returns a random float in [0,1) from the seeded source.
func (s *Server) randFloat() float64 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64()
}

// randBytes fills b from Options.Rand or the seeded source.
func (s *Server) randBytes(b []byte) {
	if s.opts.Rand != nil {
		if _, err := io.ReadFull(s.opts.Rand, b); err == nil {
			return
		}
	}
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
}

const idChars = "0123456789abcdefghijklmnopqrstuvwxyz"

// randID returns n random characters of 0-9a-z.
func (s *Server) randID(n int) string {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	b := make([]byte, n)
	for i := range b {
		b[i] = idChars[s.rng.IntN(len(idChars))]
	}
	return string(b)
}

// randHex returns n random lowercase hex characters.
func (s *Server) randHex(n int) string {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	const hx = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = hx[s.rng.IntN(16)]
	}
	return string(b)
}
