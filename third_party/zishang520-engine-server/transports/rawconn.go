package transports

// Switchboard patch (see ../PATCHES.md): socket reads and writes as raw syscalls.

import (
	"bufio"
	"errors"
	"net"
	"net/http"
)

// RawSyscallConn returns c with its Read and Write made as raw system calls where the platform
// allows it (Linux, a connection with a file descriptor: plain TCP, not TLS), and c itself
// otherwise.
//
// Why: a system call entered the ordinary way (syscall.Syscall) tells the scheduler, and when
// every P was idle before it, that wakes the runtime's sysmon thread out of its deep sleep with
// its delay reset: sysmon then polls every 20 µs until the process is idle again
// (runtime.sysmon: "If it wakes from a syscall it resets idle and delay"). A server that
// sleeps between short bursts (a write delay's ticks, a click now and then) paid for every
// burst with several sysmon wakes, a context switch each: 15% of the server's CPU in the
// counter at 200 clicks/s to 200 sockets with a 25 ms write delay, and 17% less CPU per
// delivery without them. The descriptor is non-blocking, so a raw call never waits in the
// kernel; when it would (EAGAIN), the connection waits on the runtime's poller as net.Conn
// does, and the connection's deadlines hold (syscall.RawConn). A raw call keeps its P for the
// few microseconds a non-blocking socket call takes.
func RawSyscallConn(c net.Conn) net.Conn {
	return rawSyscallConn(c)
}

// RawResponse makes a WebSocket upgrade hijack its connection with raw syscalls
// (RawSyscallConn).
type RawResponse struct {
	http.ResponseWriter
}

// Hijack hands the connection over with raw syscalls.
func (r RawResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := hijack(r.ResponseWriter)
	if err != nil {
		return nil, nil, err
	}
	return RawSyscallConn(c), brw, nil
}

func hijack(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("websocket: response does not implement http.Hijacker")
	}
	return h.Hijack()
}
