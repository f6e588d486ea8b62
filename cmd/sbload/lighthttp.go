package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// doer makes HTTP requests: an *http.Client, or a lightConn.
type doer interface {
	Do(req *http.Request) (*http.Response, error)
}

// lightConn is one HTTP/1.1 keep-alive connection that its pair uses one request at a time,
// through net/http's own request writer and response reader, on the pair's goroutine.
// http.Transport runs two goroutines per connection and hands every request and response
// between them and the caller: in a profile of 128 pairs of G2 exchanges that machinery was
// most of the load client's 46–58 µs of CPU per request, on the two cores the server shares.
// One client serves both servers of a comparison, so a lighter one only lets a faster server
// show more of its speed (the same reasoning as bench/lib/rawsio.mjs for socket.io).
type lightConn struct {
	dial    func(ctx context.Context) (net.Conn, error)
	timeout time.Duration
	conn    net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
}

func newLightConn(dial func(ctx context.Context) (net.Conn, error), timeout time.Duration) *lightConn {
	return &lightConn{dial: dial, timeout: timeout}
}

// Do sends req and reads its response's head; the caller reads the body and closes it before
// the next request. A request on a kept connection that the server had closed (an idle
// timeout, a restart) is sent again once on a new connection: when not a byte of a response
// came back on a kept connection, the server closed it before reading the request (it
// answers every request it reads, as http.Transport also assumes). A failure after the
// first byte is not retried.
func (l *lightConn) Do(req *http.Request) (*http.Response, error) {
	reused := l.conn != nil
	resp, err := l.roundTrip(req)
	if err != nil && reused && req.GetBody != nil && errors.Is(err, errNotSent) {
		if req.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
		resp, err = l.roundTrip(req)
	}
	return resp, err
}

// errNotSent marks a failure before the server could have answered: the kept connection
// was found closed.
var errNotSent = errors.New("connection closed before the response")

func (l *lightConn) roundTrip(req *http.Request) (*http.Response, error) {
	if l.conn == nil {
		ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		c, err := l.dial(ctx)
		cancel()
		if err != nil {
			return nil, err
		}
		l.conn, l.br, l.bw = c, bufio.NewReader(c), bufio.NewWriter(c)
	}
	_ = l.conn.SetDeadline(time.Now().Add(l.timeout))
	if err := req.Write(l.bw); err != nil {
		l.reset()
		return nil, fmt.Errorf("%w: %w", errNotSent, err)
	}
	if err := l.bw.Flush(); err != nil {
		l.reset()
		return nil, fmt.Errorf("%w: %w", errNotSent, err)
	}
	if _, err := l.br.Peek(1); err != nil {
		// Not a byte came back (EOF, or a reset: the server had closed the kept connection).
		l.reset()
		return nil, fmt.Errorf("%w: %w", errNotSent, err)
	}
	resp, err := http.ReadResponse(l.br, req)
	if err != nil {
		l.reset()
		return nil, err
	}
	resp.Body = &lightBody{ReadCloser: resp.Body, l: l, close: resp.Close}
	return resp, nil
}

// reset drops the connection; the next request dials again.
func (l *lightConn) reset() {
	if l.conn != nil {
		_ = l.conn.Close()
	}
	l.conn, l.br, l.bw = nil, nil, nil
}

// lightBody is a response body whose Close leaves the connection ready for the next request:
// it reads what is left, and drops the connection when the server said it closes it.
type lightBody struct {
	io.ReadCloser
	l     *lightConn
	close bool
}

func (b *lightBody) Close() error {
	_, err := io.Copy(io.Discard, b.ReadCloser)
	_ = b.ReadCloser.Close()
	if b.close || err != nil {
		b.l.reset()
	}
	return nil
}
