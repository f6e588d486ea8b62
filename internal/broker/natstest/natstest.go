// Package natstest starts NATS servers with JetStream for tests: one embedded in the test
// process (the nats-server module's version), or the machine's own on 127.0.0.1:4222.
package natstest

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start runs an embedded JetStream server on 127.0.0.1:port (-1: a random port) storing in
// dir (a temp dir when empty); it is shut down when the test ends.
func Start(t testing.TB, port int, dir string) *server.Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true, JetStream: true, StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded NATS did not start")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// URL starts an embedded server (see Start) and returns its client URL.
func URL(t testing.TB) string {
	t.Helper()
	return Start(t, -1, "").ClientURL()
}

// Machine returns the URL of the machine's NATS server on 127.0.0.1:4222; without one the
// test is skipped with a message, or fails under CI=true.
func Machine(t testing.TB) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no NATS server listens on 127.0.0.1:4222: %v", err)
		}
		t.Skip("no NATS server on 127.0.0.1:4222 (start one with `nats-server -js`); the embedded server covers the engine")
	}
	c.Close()
	return "nats://127.0.0.1:4222"
}
