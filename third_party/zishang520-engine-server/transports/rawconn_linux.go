package transports

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// rawConn is a connection whose Read and Write are raw system calls (see RawSyscallConn).
type rawConn struct {
	net.Conn
	rc   syscall.RawConn
	r, w rawOp
}

// rawOp is one direction's call in progress. Its function is bound once: a closure per call
// over the buffer and the results was three allocations per Read and per Write. Its mutex
// keeps two calls in one direction apart, as the descriptor's own read and write locks,
// which syscall.RawConn takes around the call, already do; it is never contended by a
// connection's one reader and one writer.
type rawOp struct {
	mu    sync.Mutex
	fn    func(fd uintptr) bool
	p     []byte
	n     int
	errno syscall.Errno
}

func rawSyscallConn(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	rw := &rawConn{Conn: c, rc: rc}
	rw.r.fn, rw.w.fn = rw.r.read, rw.w.write
	return rw
}

// Read reads as net.Conn does: at least one byte, io.EOF at the end of the stream, or an error.
func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, errno, err := c.r.do(c.rc.Read, p)
	switch {
	case err != nil:
		return 0, err // closed or past its deadline, as net.Conn reports them
	case errno != 0:
		return 0, c.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p, as net.Conn does, or returns how much it wrote and why it stopped.
func (c *rawConn) Write(p []byte) (int, error) {
	n, errno, err := c.w.do(c.rc.Write, p)
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, c.opError("write", errno)
	}
	return n, nil
}

// do runs the operation on p through call (the RawConn's Read or Write, which waits on the
// poller whenever the function reports false) and returns its results.
func (o *rawOp) do(call func(func(uintptr) bool) error, p []byte) (n int, errno syscall.Errno, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.p, o.n, o.errno = p, 0, 0
	err = call(o.fn)
	n, errno, o.p = o.n, o.errno, nil
	return n, errno, err
}

// read makes one read call: false when there is nothing to read yet.
func (o *rawOp) read(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&o.p[0])), uintptr(len(o.p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait on the poller, then call again
		}
		o.n, o.errno = int(r), e
		return true
	}
}

// write writes what is left of p: false when the socket's buffer is full.
func (o *rawOp) write(fd uintptr) bool {
	for o.n < len(o.p) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&o.p[o.n])), uintptr(len(o.p)-o.n))
		switch e {
		case 0:
			o.n += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // wait on the poller, then go on
		default:
			o.errno = e
			return true
		}
	}
	return true
}

func (c *rawConn) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}
