// The counter demo: a frust client on the real wire API (docs/counter.md).
import { io } from '../vendor/socket.io.esm.min.js';

const $ = (id) => document.getElementById(id);
let base = '';
let total = 0;
let today = 0;

function render() {
  $('total').textContent = total.toLocaleString('en');
  $('today').textContent = today.toLocaleString('en');
}

async function start() {
  try {
    const s = await (await fetch('../api/session')).json();
    if (s.prefixes?.counter !== undefined) base = s.prefixes.counter;
  } catch { /* the default mount */ }
  const socket = io({ path: base + '/api/socket.io' });
  // `stats` comes on every (re)connect: the counts start from it, then move with each click.
  socket.on('stats', (st) => { total = st.click_count_total; today = st.click_count_today; render(); });
  socket.on('status', (st) => { $('online').textContent = st.user_count; });
  socket.on('click', (c) => {
    total++; today++;
    render();
    const li = document.createElement('li');
    li.textContent = `${c.user}${c.comment ? ': ' + c.comment : ''}`;
    $('clicks').prepend(li);
    while ($('clicks').children.length > 100) $('clicks').lastElementChild.remove();
  });
  $('click').addEventListener('submit', (e) => {
    e.preventDefault();
    const comment = $('comment').value.trim();
    socket.emit('click', { user: $('name').value.trim() || 'guest', ...(comment ? { comment } : {}) });
    $('comment').value = '';
  });
}
start();
