// Package siotest is a raw socket.io client for tests: Engine.IO 4 over WebSocket, written out
// frame by frame, for what no socket.io client library would send (hostile frames, an event
// the instant the socket connects).
package siotest

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// guard bounds every read; it is not a speed assertion.
const guard = 10 * time.Second

// Client is one socket of the default namespace.
type Client struct {
	t *testing.T
	c *websocket.Conn
}

// Open opens the Engine.IO session at url (an http:// socket.io path, "…/socket.io/") and
// reads its open packet, without joining a namespace.
func Open(t *testing.T, url string) (*Client, error) {
	return OpenWith(t, url, websocket.DefaultDialer)
}

// OpenWith is Open through dialer d.
func OpenWith(t *testing.T, url string, d *websocket.Dialer) (*Client, error) {
	c, _, err := d.Dial(strings.Replace(url, "http", "ws", 1)+"?EIO=4&transport=websocket", nil)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	cl := &Client{t, c}
	if open := cl.Read(); !strings.HasPrefix(open, "0{") {
		return nil, &websocket.CloseError{Text: "no open packet: " + open}
	}
	return cl, nil
}

// Dial opens a session and joins the default namespace, failing the test otherwise.
func Dial(t *testing.T, url string) *Client {
	t.Helper()
	c, err := Open(t, url)
	if err != nil {
		t.Fatal(err)
	}
	c.Send("40")
	if ack := c.Read(); !strings.HasPrefix(ack, "40") {
		t.Fatalf("connect packet %q", ack)
	}
	return c
}

// Send writes one packet ("42[…]" for an event), failing the test if it cannot.
func (c *Client) Send(s string) {
	if err := c.Write(s); err != nil {
		c.t.Error(err)
	}
}

// Write writes one packet; the error says the socket is gone (a server may cut it on
// purpose).
func (c *Client) Write(s string) error { return c.c.WriteMessage(websocket.TextMessage, []byte(s)) }

// Read returns the next packet that is not a ping (which it answers); "" once the socket has
// ended.
func (c *Client) Read() string {
	for {
		_ = c.c.SetReadDeadline(time.Now().Add(guard))
		_, b, err := c.c.ReadMessage()
		if err != nil {
			return ""
		}
		if string(b) == "2" {
			c.Send("3")
			continue
		}
		return string(b)
	}
}
