// The side-by-side benchmark's counter client (bench/counter-load.mjs), on each of its two
// clients, against the Switchboard started by scripts/test: it runs to the end, every click
// reaches every socket, and the counter moves by the clicks sent. This keeps the instrument
// behind the README's figures working, in particular bench/lib/rawsio.mjs, the light socket.io
// client that speaks the wire protocol itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const base = process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:8080';
const run = promisify(execFile);

for (const client of ['raw', 'sio4']) {
  test(`bench/counter-load.mjs --client ${client}: every click to every socket, all counted`, async () => {
    const script = new URL('../bench/counter-load.mjs', import.meta.url).pathname;
    const { stdout } = await run(process.execPath, [script, '--url', base, '--clickers', '6', '--rate', '20',
      '--duration', '2', '--procs', '2', '--client', client], { timeout: 120000 });
    const sent = stdout.match(/sent (\d+) clicks at 20\/s; the total counter moved by (\d+)/);
    assert.ok(sent, stdout);
    assert.ok(Number(sent[1]) > 0, stdout);
    assert.equal(sent[2], sent[1], stdout);
    const received = stdout.match(/received (\d+) of (\d+) click events/);
    assert.ok(received, stdout);
    assert.equal(received[1], received[2], stdout);
    assert.equal(Number(received[2]), Number(sent[1]) * 6, stdout);
  });
}
