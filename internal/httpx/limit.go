package httpx

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// IPLimiter is a token bucket per client IP; buckets idle for a minute are forgotten once
// there are many, so the map stays bounded.
type IPLimiter struct {
	rate  rate.Limit
	burst int
	mu    sync.Mutex
	ips   map[string]*ipBucket
}

type ipBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewIPLimiter allows each IP r requests per second with bursts of burst.
func NewIPLimiter(r float64, burst int) *IPLimiter {
	return &IPLimiter{rate: rate.Limit(r), burst: burst, ips: map[string]*ipBucket{}}
}

// Allow takes one token from ip's bucket and reports whether there was one.
func (l *IPLimiter) Allow(ip string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ips) > 100000 {
		for k, b := range l.ips {
			if now.Sub(b.seen) > time.Minute {
				delete(l.ips, k)
			}
		}
	}
	b := l.ips[ip]
	if b == nil {
		b = &ipBucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.ips[ip] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}
