// Command kalturasim runs the Kaltura API simulator (tools/kalturasim) with
// its schedule store and, optionally, its FTP front.
//
//	kalturasim -listen 127.0.0.1:8088 [-ftp 127.0.0.1:2121] [-seed demo|empty] [-data DIR]
//
// With -seed demo it creates a CAMERA resource, a template entry, a
// capture-device app token (SHA256, disableentitlement,
// setrole:CAPTURE_DEVICE_ROLE), an FTP user and three short lectures
// starting a minute from now, and prints them as one JSON line on stdout.
// Logs go to stderr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim"
	"github.com/capturebox/capturebox/tools/kalturasim/ftpfront"
	"github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// config is the parsed command line.
type config struct {
	listen     string
	ftp        string
	seed       string
	data       string
	processing time.Duration
	finalWait  time.Duration
	serviceURL string
	perms      string
}

// Seeded is the JSON line printed on stdout.
type Seeded struct {
	ServiceURL      string  `json:"serviceUrl"`
	PartnerID       int64   `json:"partnerId"`
	AdminSecret     string  `json:"adminSecret"`
	AppTokenID      string  `json:"appTokenId,omitempty"`
	AppToken        string  `json:"appToken,omitempty"`
	HashType        string  `json:"hashType,omitempty"`
	ResourceID      int64   `json:"resourceId,omitempty"`
	TemplateEntryID string  `json:"templateEntryId,omitempty"`
	EventIDs        []int64 `json:"eventIds,omitempty"`
	FTPAddr         string  `json:"ftpAddr,omitempty"`
	FTPUser         string  `json:"ftpUser,omitempty"`
	FTPPassword     string  `json:"ftpPassword,omitempty"`
}

func main() {
	var cfg config
	flag.StringVar(&cfg.listen, "listen", "127.0.0.1:8088", "HTTP listen address")
	flag.StringVar(&cfg.ftp, "ftp", "", "FTP listen address (empty: no FTP front)")
	flag.StringVar(&cfg.seed, "seed", "demo", "initial data: demo or empty")
	flag.StringVar(&cfg.data, "data", "", "data directory for uploads (default: a temporary directory)")
	flag.DurationVar(&cfg.processing, "processing-delay", kalturasim.DefaultProcessingDelay, "time an entry takes to become READY")
	flag.DurationVar(&cfg.finalWait, "final-chunk-wait", kalturasim.DefaultFinalChunkMaxAppendTime, "upload_final_chunk_max_append_time")
	flag.StringVar(&cfg.serviceURL, "service-url", "", "proto://host handed out as an upload token's uploadUrl (e.g. a proxy in front of the simulator; default: the host each request came to)")
	flag.StringVar(&cfg.perms, "permissions", "", "CAPTURE_DEVICE permission table (default: shared/spec/"+kalturasim.PermissionsFileName+" found above the working directory)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, log, nil); err != nil {
		log.Error("kalturasim", "err", err)
		os.Exit(1)
	}
}

// run starts the simulator and serves until ctx ends. ready, when not nil,
// receives the HTTP address once listening.
func run(ctx context.Context, cfg config, out io.Writer, log *slog.Logger, ready chan<- string) error {
	if cfg.seed != "demo" && cfg.seed != "empty" {
		return fmt.Errorf("-seed %q: want demo or empty", cfg.seed)
	}
	srv, err := kalturasim.New(kalturasim.Options{
		Logger: log, DataDir: cfg.data, ProcessingDelay: cfg.processing, FinalChunkMaxAppendTime: cfg.finalWait,
		ServiceURL: cfg.serviceURL, PermissionsFile: cfg.perms,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	store := schedule.New(srv.Now)
	store.Register(srv.Register)
	srv.MountAdmin("schedule", scheduleAdmin(store, srv.PartnerID()))

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	base := "http://" + ln.Addr().String()
	seeded := Seeded{ServiceURL: base, PartnerID: srv.PartnerID(), AdminSecret: srv.AdminSecret()}

	if cfg.ftp != "" {
		fs, err := ftpfront.New(ftpfront.Config{Addr: cfg.ftp, Auth: srv.LoginCaller, Call: srv.Call, Clock: srv.Now, Logger: log})
		if err != nil {
			ln.Close()
			return fmt.Errorf("ftp: %w", err)
		}
		defer fs.Close()
		seeded.FTPAddr = fs.Addr()
	}
	if cfg.seed == "demo" {
		if err := seedDemo(srv, store, &seeded); err != nil {
			ln.Close()
			return err
		}
	}
	if err := json.NewEncoder(out).Encode(seeded); err != nil {
		ln.Close()
		return fmt.Errorf("print seed: %w", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("kalturasim listening", "addr", base, "ftp", seeded.FTPAddr)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close()
		if err := hs.Shutdown(sctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	}
}

// seedDemo creates the demo partner data of the command's doc comment.
func seedDemo(srv *kalturasim.Server, store *schedule.Store, out *Seeded) error {
	pid := srv.PartnerID()
	tpl, err := srv.AddTemplateEntry(kalturasim.EntrySpec{
		Name: "Lecture capture template", Description: "Recorded by capturebox", Tags: "lecture,capturebox",
		UserID: "lecturer@example.edu", EntitledUsersEdit: "lecturer@example.edu", EntitledUsersPublish: "lecturer@example.edu",
		Categories: "Courses>Demo", CategoriesIDs: "301",
	})
	if err != nil {
		return fmt.Errorf("seed template: %w", err)
	}
	tok, err := srv.AddAppToken(kalturasim.AppTokenSpec{
		HashType: "SHA256", SessionPrivileges: "disableentitlement,setrole:" + "CAPTURE_DEVICE_ROLE",
		Description: "capturebox demo", SessionDuration: 86400,
	})
	if err != nil {
		return fmt.Errorf("seed app token: %w", err)
	}
	if err := srv.AddUser(kalturasim.User{ID: "ftp", LoginID: "ftp@example.edu", Password: "ftp-demo"}); err != nil {
		return fmt.Errorf("seed ftp user: %w", err)
	}
	demo, err := store.SeedDemo(pid, tpl.ID, schedule.DemoOptions{})
	if err != nil {
		return fmt.Errorf("seed schedule: %w", err)
	}
	out.AppTokenID, out.AppToken, out.HashType = tok.ID, tok.Token, tok.HashType
	out.ResourceID, out.TemplateEntryID, out.EventIDs = demo.ResourceID, tpl.ID, demo.EventIDs
	out.FTPUser, out.FTPPassword = strconv.FormatInt(pid, 10)+"/ftp@example.edu", "ftp-demo"
	return nil
}

// scheduleAdmin serves /admin/schedule/: GET events and resources, POST an
// event or a resource (the schedule package's Event/Resource as JSON),
// POST events/{id}/cancel, DELETE events/{id}.
func scheduleAdmin(st *schedule.Store, pid int64) http.Handler {
	write := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, code int, err error) {
		write(w, code, map[string]string{"error": err.Error()})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		switch {
		case parts[0] == "events" && len(parts) == 1 && r.Method == http.MethodGet:
			write(w, 200, st.Events(pid))
		case parts[0] == "events" && len(parts) == 1 && r.Method == http.MethodPost:
			var e schedule.Event
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&e); err != nil {
				fail(w, 400, err)
				return
			}
			ev, err := st.AddEvent(pid, e)
			if err != nil {
				fail(w, 400, err)
				return
			}
			write(w, 200, ev)
		case parts[0] == "events" && len(parts) >= 2:
			id, err := strconv.ParseInt(parts[1], 10, 64)
			if err != nil {
				fail(w, 400, err)
				return
			}
			var ev schedule.Event
			switch {
			case len(parts) == 3 && parts[2] == "cancel" && r.Method == http.MethodPost:
				ev, err = st.CancelEvent(pid, id)
			case len(parts) == 2 && r.Method == http.MethodDelete:
				ev, err = st.DeleteEvent(pid, id)
			case len(parts) == 2 && r.Method == http.MethodGet:
				var ok bool
				if ev, ok = st.Event(pid, id); !ok {
					err = fmt.Errorf("event %d not found", id)
				}
			default:
				http.NotFound(w, r)
				return
			}
			if err != nil {
				fail(w, 404, err)
				return
			}
			write(w, 200, ev)
		case parts[0] == "resources" && r.Method == http.MethodGet:
			write(w, 200, st.Resources(pid))
		case parts[0] == "resources" && r.Method == http.MethodPost:
			var res schedule.Resource
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&res); err != nil {
				fail(w, 400, err)
				return
			}
			out, err := st.AddResource(pid, res)
			if err != nil {
				fail(w, 400, err)
				return
			}
			write(w, 200, out)
		default:
			http.NotFound(w, r)
		}
	})
}
