// Helpers for the tests that run processes of their own (Switchboard nodes, HAProxy).
import { spawn } from 'node:child_process';
import net from 'node:net';

// guardMs bounds every wait (health checks every 2 s, reconnection backoff up to 5 s); it is
// not a speed assertion.
export const guardMs = 30000;

// freePort finds a loopback port nobody listens on.
export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// run starts cmd with args and extra environment (a null value removes a variable this
// process has); exited resolves with its exit code and what it wrote to stderr, log() returns
// that so far.
export function run(cmd, args, env = {}) {
  const merged = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === null) delete merged[k];
  const proc = spawn(cmd, args, { env: merged, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal, log })));
  return { proc, exited, log: () => log };
}

// until polls check every 50 ms until it holds, failing after guardMs with what (a string, or
// a function called then: what a process logged meanwhile).
export async function until(check, what) {
  const deadline = Date.now() + guardMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${typeof what === 'function' ? what() : what}: not reached`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// get fetches url; a refused connection is status 0.
export async function get(url) {
  try {
    const r = await fetch(url);
    return { status: r.status, body: await r.text() };
  } catch {
    return { status: 0, body: '' };
  }
}
