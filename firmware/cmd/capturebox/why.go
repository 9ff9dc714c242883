package main

import (
	"context"
	"flag"
	"path/filepath"
	"strings"
	"time"

	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/firmware/ledger"
)

// whyFlags is `capturebox why`: the event ledger of the box whose
// configuration is given, read without writing anything.
func whyFlags(fs *flag.FlagSet, e env) func(context.Context) error {
	cfgPath := fs.String("config", defaultConfig, "configuration `file` of the box (its data_dir holds the ledger)")
	return func(context.Context) error {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		l, err := ledger.Open(filepath.Join(cfg.Box.DataDir, "ledger"), ledger.Options{})
		if err != nil {
			return err
		}
		defer l.Close()
		if fs.NArg() > 1 {
			return usageError{"why: want one event id or one date"}
		}
		return l.Why(e.stdout, strings.Join(fs.Args(), " "), time.Now().In(cfg.Box.Location()))
	}
}
