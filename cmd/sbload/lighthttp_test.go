package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLightConnReconnects: the light client keeps its connection across requests, dials
// again after a response that closes it, and sends a request again once when the kept
// connection turns out closed (the server went away between requests) — each request
// answered, with a body posted in full every time.
func TestLightConnReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var conns, served atomic.Int32
	// Each connection serves at most perConn requests and then closes without a word (after
	// the first) or says so (Connection: close, the second).
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					body, _ := io.ReadAll(req.Body)
					served.Add(1)
					closing := n == 2
					head := "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
					if closing {
						head += "Connection: close\r\n"
					}
					_, _ = io.WriteString(c, head+"\r\n"+string(body))
					if closing || (n == 1 && i == 1) {
						return // the first connection: two requests, then gone unannounced
					}
				}
			}()
		}
	}()
	addr := ln.Addr().String()
	d := &net.Dialer{Timeout: 5 * time.Second}
	l := newLightConn(func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }, 10*time.Second)
	for i, body := range []string{"one", "two", "three", "four", "five"} {
		req, err := http.NewRequest("POST", "http://"+addr+"/x", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := l.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		got, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || string(got) != body {
			t.Fatalf("request %d: %q, %v; want %q", i+1, got, err, body)
		}
	}
	// Connection 1 served two and closed; the third request found it closed and went again on
	// connection 2, which answered with Connection: close; four and five went on connection 3.
	if c, s := conns.Load(), served.Load(); c != 3 || s != 5 {
		t.Fatalf("%d connections served %d requests, want 3 and 5", c, s)
	}
}
