package ledger

// NoSync skips the fsync of each record, for tests that write a year.
func NoSync(o Options) Options { o.noSync = true; return o }
