// A stand-in for the WCA OAuth provider that the streams' sign-in talks to: POST /oauth/token
// (form body; the code "good" and the right client secret get a token), GET /api/v0/me.
import http from 'node:http';

export const standInUser = { id: 4242, wca_id: '2099TEST01', name: 'Black Box', avatar: { url: 'x' } };

// standInWCA listens on 127.0.0.1:port and resolves with the server. The server keeps the
// Switchboard's connection alive: closeAllConnections() before close(), or the test waits.
export function standInWCA(port, secret) {
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/json');
      if (req.method === 'POST' && req.url.startsWith('/oauth/token')) {
        const form = new URLSearchParams(body);
        if (form.get('client_secret') !== secret || form.get('code') !== 'good') {
          res.statusCode = 400;
          return res.end(JSON.stringify({ error: 'invalid_grant', error_description: 'bad code' }));
        }
        return res.end(JSON.stringify({ access_token: 'wca-at', token_type: 'Bearer', expires_in: 7200, refresh_token: 'r', scope: 'public', created_at: 1 }));
      }
      if (req.url === '/api/v0/me' && req.headers.authorization === 'Bearer wca-at') {
        return res.end(JSON.stringify({ me: standInUser }));
      }
      res.statusCode = 404;
      res.end('{}');
    });
  });
  return new Promise((resolve) => srv.listen(port, '127.0.0.1', () => resolve(srv)));
}
