package signal

import (
	"context"
	"fmt"
	"testing"

	"github.com/switchboard/switchboard/internal/store"
	"github.com/switchboard/switchboard/internal/store/storetest"
)

// seedDiscovery stores 5,000 live offers on an unrelated topic (and as many G4 offers on an
// unrelated tag) and 20 on the topic looked for.
func seedDiscovery(b testing.TB, st *store.DB) db {
	ctx := context.Background()
	d := migrated(b, st)
	const now = 1_000_000
	for gen, n := range map[int]int{gen2: 5000, gen4: 5000} {
		for i := 0; i < n; i += 100 {
			batch := make([]newOffer, 100)
			for j := range batch {
				batch[j] = newOffer{SDP: "v=0", Tags: []string{"other"}, ExpiresAt: now + 3_600_000}
			}
			if err := d.createOffers(ctx, gen, fmt.Sprintf("bulk%d", i), batch, quota{}, now); err != nil {
				b.Fatal(err)
			}
		}
		mine := make([]newOffer, 20)
		for j := range mine {
			mine[j] = newOffer{SDP: "v=0", Tags: []string{"mine"}, ExpiresAt: now + 3_600_000}
		}
		if err := d.createOffers(ctx, gen, "me", mine, quota{}, now); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := st.Write().ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkDiscovery: the discovery queries with 5,000 unrelated live offers; their cost
// should follow the 20 matching ones (issue 13).
func BenchmarkDiscovery(b *testing.B) {
	for name, open := range map[string]func(testing.TB) *store.DB{"sqlite": storetest.SQLite, "postgres": storetest.Postgres} {
		b.Run(name, func(b *testing.B) {
			d := seedDiscovery(b, open(b))
			ctx := context.Background()
			const now = 1_000_001
			queries := map[string]func() error{
				"g2-by-topic": func() error {
					n := 0
					f := filter{Gen: gen2, Now: now, AnyTags: []string{"mine"}, Available: true}
					if err := d.owners(ctx, f, func(string, string) { n++ }); err != nil || n != 20 {
						return fmt.Errorf("%d owners, %v", n, err)
					}
					return nil
				},
				"g2-topics": func() error {
					tc, _, err := d.tagCounts(ctx, filter{Gen: gen2, Now: now, Available: true}, "mi", true, 50, 0)
					if err != nil || len(tc) != 1 || tc[0].Count != 1 {
						return fmt.Errorf("%v %v", tc, err)
					}
					return nil
				},
				"g4-count": func() error {
					n, err := d.countOffers(ctx, filter{Gen: gen4, Now: now, AnyTags: []string{"mine"}, Available: true}, false)
					if err != nil || n != 20 {
						return fmt.Errorf("%d, %v", n, err)
					}
					return nil
				},
				"g4-discover": func() error {
					os, err := d.listOffers(ctx, filter{Gen: gen4, Now: now, AnyTags: []string{"mine"}, Available: true}, "o.created_at DESC", 10, 0)
					if err != nil || len(os) != 10 {
						return fmt.Errorf("%d, %v", len(os), err)
					}
					return nil
				},
			}
			for q, run := range queries {
				b.Run(q, func(b *testing.B) {
					for b.Loop() {
						if err := run(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		p, want string
		ok      bool
	}{
		{"mi", "mj", true},
		{"a%", "a&", true},
		{"é", "ê", true},
		{"x\uD7FF", "x\uE000", true},
		{"", "", false},
		{"z\U0010FFFF", "", false},
		{"bad\xff", "", false},
	}
	for _, tt := range tests {
		got, ok := prefixEnd(tt.p)
		if got != tt.want || ok != tt.ok {
			t.Errorf("prefixEnd(%q) = %q %v, want %q %v", tt.p, got, ok, tt.want, tt.ok)
		}
	}
}

// TestTopicPrefixes: the prefix search finds exactly the tags that start with the prefix,
// wildcard characters and non-ASCII included, on both engines.
func TestTopicPrefixes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.DB) {
		ctx := context.Background()
		d := migrated(t, st)
		const now = 1_000_000
		tags := []string{"mi", "mine", "mj", "m_x", "m%y", "mé", "mê", "m", "MI"}
		for i, tag := range tags {
			o := []newOffer{{SDP: "v=0", Tags: []string{tag}, ExpiresAt: now + 1000}}
			if err := d.createOffers(ctx, gen2, fmt.Sprintf("p%d", i), o, quota{}, now); err != nil {
				t.Fatal(err)
			}
		}
		for prefix, want := range map[string]string{"mi": "[mi mine]", "m_": "[m_x]", "m%": "[m%y]", "mé": "[mé]", "m": "[m m%y m_x mi mine mj mé mê]"} {
			tc, total, err := d.tagCounts(ctx, filter{Gen: gen2, Now: now, Available: true}, prefix, false, 50, 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range tc {
				got = append(got, c.Tag)
			}
			if fmt.Sprint(got) != want || total != len(got) {
				t.Errorf("prefix %q: %v (total %d), want %s", prefix, got, total, want)
			}
		}
	})
}
