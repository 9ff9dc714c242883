package kalturasim
import ("testing";"time";"net/http/httptest";"net/http";"sync";"math/rand/v2";"context";"sync/atomic")
func TestDbg(t *testing.T) {
	var n atomic.Int32
	s, _ := New(Options{Seed: 7, DataDir: testDataDir(t), Sleep: func(ctx context.Context, d time.Duration) error { n.Add(1); return nil }})
	hs := httptest.NewServer(s); defer hs.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 200, MaxConnsPerHost: 200}
	hc := &http.Client{Transport: tr}
	ks := s.IssueKS("box", 2, time.Hour)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range 200 { wg.Add(1); go func(){ defer wg.Done(); rng := rand.New(rand.NewPCG(uint64(c), 9)); data := make([]byte, 256<<10)
		t0 := time.Now()
		if _, err := uploadClient(hc, hs.URL, ks, data, 32<<10, rng); err != nil { t.Error(err) }
		if d := time.Since(t0); d > 2*time.Second { t.Logf("client %d took %v", c, d) }
	}() }
	wg.Wait()
	t.Logf("sleeps %d took %v", n.Load(), time.Since(start))
}
