// The viewer's controller: reads the connect settings (query string, then
// localStorage), keeps one Connection to the agent, turns its messages into
// the header, the top table, the threads panel, the flame graph, the record
// bar, the dump sheet, the per-endpoint wall-time table and the loop-blocks
// list, and turns the controls into commands.  The view switch (CPU / wall)
// makes the table and the flame graph follow the CPU samples or the asyncio
// task wall time (`live`/`top`/`flame` with "view":"tasks").
//
// Robustness: every message goes through handle(), which catches anything a
// malformed message throws, shows a warning and carries on.  Commands carry
// an "id" so an `error` reply can be tied to what caused it.

(function (Spy) {
  'use strict';
  const { h, setText, clear, fmtCount, fmtSeconds, fileUrl, copyText } = Spy.dom;
  const byId = (id) => document.getElementById(id);

  const STORE_KEY = 'spyagent.viewer';
  const FLAME_MIN_MS = 1000;
  const STATUS_MS = 2000;
  const ENDPOINTS_MS = 2000;

  const state = {
    hello: null,
    window: '5',
    view: 'cpu',          // 'cpu' or 'tasks' (wall time)
    viewSent: false,      // a view was named on this connection: keep naming it
    idle: false,
    limit: 200,
    thread: '',
    threadFilter: true,   // false once the agent refused `live ... thread`
    paused: false,
    recording: null,      // {seconds, startedAt, elapsed, samples, mine}
    flame: false,         // the agent has a `flame` command
    flameId: null,
    flameAt: 0,
    flamePushes: false,   // the agent pushes `flame` unasked
    pending: new Map(),   // id -> what the command was for
    prevStatus: null,
    statusTimer: null,
    warnedTypes: new Set(),
    connState: 'stopped',
    counts: { top: 0, flame: 0, warnings: 0 },
  };

  // ---------------------------------------------------------------- settings

  function loadSettings() {
    let saved = {};
    try { saved = JSON.parse(localStorage.getItem(STORE_KEY) || '{}') || {}; } catch (_) { saved = {}; }
    const q = new URLSearchParams(location.search);
    const pick = (k, d) => (q.has(k) ? q.get(k) : (typeof saved[k] === 'string' ? saved[k] : d));
    return {
      host: pick('host', '127.0.0.1'),
      port: pick('port', '7799'),
      token: pick('token', ''),
      window: ['5', '60', 'all'].includes(saved.window) ? saved.window : '5',
      view: saved.view === 'tasks' ? 'tasks' : 'cpu',
      idle: saved.idle === true,
      limit: [50, 200, 1000].includes(saved.limit) ? saved.limit : 200,
    };
  }

  function saveSettings() {
    const s = {
      host: byId('host').value.trim(), port: byId('port').value.trim(), token: byId('token').value,
      window: state.window, idle: state.idle, limit: state.limit, view: state.view,
    };
    try { localStorage.setItem(STORE_KEY, JSON.stringify(s)); } catch (_) { /* private mode */ }
  }

  // ---------------------------------------------------------------- warnings

  function toast(text, kind = 'warn', ms = 6000) {
    const box = byId('toasts');
    for (const t of box.children) {
      if (t._text === text) { t._n++; setText(t.lastChild, t._n > 1 ? ` ×${t._n}` : ''); return; }
    }
    const el = h('div', { class: 'toast ' + kind, role: kind === 'error' ? 'alert' : 'status' },
      h('span', null, text), h('span', { class: 'times' }));
    el._text = text; el._n = 1;
    box.append(el);
    while (box.children.length > 5) box.firstChild.remove();
    setTimeout(() => el.remove(), ms);
    if (kind !== 'info') state.counts.warnings++;
  }

  // ---------------------------------------------------------------- widgets

  const table = new Spy.toptable.TopTable(byId('table'), {
    onSelect: (row) => {
      byId('flame-search').value = row ? row.function : '';
      flame.setSearch(byId('flame-search').value);
      showFlameMatch();
    },
  });
  const flame = new Spy.flamegraph.FlameGraph(byId('flame'), {
    onZoom: (fn) => { byId('flame-reset').hidden = fn === null; },
  });
  const threads = new Spy.panels.ThreadsPanel(byId('threads'), byId('threads-meta'), {
    onPick: (tid) => pickThread(state.thread === tid ? '' : tid),
  });
  const recordings = new Spy.panels.RecordingsPanel(byId('recordings'), byId('rec-list'), { onView: viewSvg });
  const endpoints = new Spy.wall.EndpointsPanel(byId('endpoints'), byId('ep-meta'));
  const blocks = new Spy.wall.BlocksPanel(byId('blocks'), byId('blocks-meta'));

  const conn = new Spy.connection.Connection({ onState, onMessage: handle });

  function send(cmd, purpose) {
    const id = conn.send(cmd);
    if (id && purpose) {
      state.pending.set(id, purpose);
      if (state.pending.size > 200) state.pending.delete(state.pending.keys().next().value);
    }
    return id;
  }

  // ---------------------------------------------------------------- connection

  function onState(s) {
    state.connState = s.state;
    const box = byId('conn');
    box.dataset.state = s.state;
    let text;
    switch (s.state) {
      case 'connecting': text = `connecting to ${s.url}…`; break;
      case 'connected': text = state.paused ? 'connected · paused' : 'connected'; break;
      case 'auth': text = 'this agent needs a token: enter it and press Connect'; break;
      case 'refused': text = `refused: ${s.reason || 'bad token'} — check the token and press Connect`; break;
      case 'unreachable': text = `no agent at ${s.url} (not running, wrong port, or it refused this page) — retrying in ${(s.retryIn / 1000).toFixed(1)} s`; break;
      case 'disconnected': text = `disconnected: the agent went away${s.reason ? ` (${s.reason})` : ''} — reconnecting in ${(s.retryIn / 1000).toFixed(1)} s`; break;
      case 'stopped': text = 'not connected'; break;
      default: text = s.state;
    }
    setText(byId('conn-text'), text);
    box.title = text;
    byId('connect-btn').textContent = s.state === 'connected' || s.state === 'connecting' ? 'Reconnect' : 'Connect';
    const live = s.state === 'connected';
    document.body.classList.toggle('offline', !live);
    for (const id of ['pause', 'reset', 'record', 'dump']) byId(id).disabled = !live;
    updateReportButton(live);
    if (!live) {
      clearInterval(state.statusTimer);
      state.statusTimer = null;
      clearInterval(state.endpointsTimer);
      state.endpointsTimer = null;
      state.viewSent = false;
      state.flameId = null;
      state.pending.clear();
      if (state.recording && state.recording.mine) endRecordingBar('connection lost: the agent writes what it recorded if it is still running');
    }
    if (s.state === 'refused' || s.state === 'auth') byId('token').focus();
  }

  function connect() {
    const host = byId('host').value.trim() || '127.0.0.1';
    const port = Number(byId('port').value.trim());
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      onState({ state: 'refused', url: `ws://${host}:?`, reason: 'the port must be a number from 1 to 65535' });
      return;
    }
    saveSettings();
    state.hello = null;
    conn.open({ host, port, token: byId('token').value });
  }

  // ---------------------------------------------------------------- messages

  const handlers = {
    hello: onHello,
    top: onTop,
    flame: onFlame,
    status: onStatus,
    live: () => {},
    paused: () => { state.paused = true; setPaused(); },
    resumed: () => { state.paused = false; setPaused(); },
    reset: () => { toast('The agent started counting again from zero.', 'info', 3000); flame.clear(); },
    dump: onDump,
    record_started: onRecordStarted,
    record_progress: onRecordProgress,
    record_done: onRecordDone,
    rate: (m) => toast(`Sampling rate: ${m.rate} Hz`, 'info', 3000),
    report: onReport,
    endpoints: (m) => { state.counts.endpoints = (state.counts.endpoints || 0) + 1; endpoints.update(m); },
    blocks: (m) => blocks.set(m),
    blocked: (m) => { state.counts.blocked = (state.counts.blocked || 0) + 1; blocks.add(m); },
    error: onError,
    auth_required: () => {},
    help: () => {},
  };

  /** Every message from the socket (and window.spyViewer.handleRaw) comes here. */
  function handle(msg) {
    if (msg.type === '__malformed') {
      toast(`Ignored a message from the agent that is not a JSON object with a type: ${msg.raw}`);
      return;
    }
    const fn = Object.prototype.hasOwnProperty.call(handlers, msg.type) ? handlers[msg.type] : null;
    if (!fn) {
      if (!state.warnedTypes.has(msg.type)) {
        state.warnedTypes.add(msg.type);
        toast(`Ignored a message of a type this viewer does not know: "${String(msg.type).slice(0, 40)}"`);
      }
      return;
    }
    try {
      fn(msg);
    } catch (e) {
      toast(`Ignored a "${String(msg.type).slice(0, 40)}" message the viewer could not read (${e && e.message ? e.message : e})`);
      console.warn('spyagent viewer: bad message', msg, e);
    }
  }

  function need(cond, what) {
    if (!cond) throw new Error(what);
  }

  function onHello(m) {
    need(Array.isArray(m.commands), 'no commands');
    state.hello = m;
    state.paused = false;
    state.flame = m.commands.includes('flame');
    state.flamePushes = false;
    state.threadFilter = true;
    setText(byId('f-pid'), Number.isFinite(m.pid) ? m.pid : '–');
    setText(byId('f-python'), typeof m.python_version === 'string' ? m.python_version : '–');
    setText(byId('f-cmd'), typeof m.command_line === 'string' ? m.command_line : '–');
    byId('f-cmd').title = typeof m.command_line === 'string' ? m.command_line : '';
    setText(byId('f-rate'), Number.isFinite(m.rate) ? `${m.rate} Hz` : '–');
    setText(byId('f-achieved'), '…');
    setText(byId('f-dropped'), '…');
    setText(byId('f-uptime'), '…');
    document.title = `spyagent · ${m.pid}`;
    state.prevStatus = null;
    byId('thread').disabled = false;
    updateReportButton(true);
    setPaused();
    if (!state.flame) {
      flame.clear();
      flameEmpty('The live flame graph needs an agent that answers the "flame" command; this one does not yet. ' +
        'Record a few seconds to see a flame graph of them.');
    } else {
      flameEmpty('Waiting for the first flame graph…');
    }
    state.viewSent = false;
    sendLive(true);
    send({ cmd: 'status' }, 'status');
    clearInterval(state.statusTimer);
    state.statusTimer = setInterval(() => send({ cmd: 'status' }, 'status'), STATUS_MS);
    clearInterval(state.endpointsTimer);
    state.endpointsTimer = null;
    if (m.commands.includes('endpoints')) {
      endpoints.message('Waiting for the first wall-time figures…');
      requestEndpoints();
      state.endpointsTimer = setInterval(requestEndpoints, ENDPOINTS_MS);
    } else {
      endpoints.message('This agent has no "endpoints" command: it cannot show wall time per endpoint.');
    }
    if (m.commands.includes('blocks')) {
      blocks.message('Asking for recent loop blocks…');
      send({ cmd: 'blocks' }, 'blocks');
    } else {
      blocks.message('This agent does not detect event-loop blocks (no "blocks" command); none will be listed.');
    }
  }

  function requestEndpoints() {
    if (state.paused || !conn.isOpen) return;
    const cmd = { cmd: 'endpoints' };
    if (state.window !== 'all') cmd.window = Number(state.window);
    send(cmd, 'endpoints');
  }

  /** The view member of live/top/flame: named once wall time was chosen (an old agent knows no "view"). */
  function withView(cmd) {
    if (state.view === 'tasks' || state.viewSent) {
      cmd.view = state.view;
      state.viewSent = true;
    }
    return cmd;
  }

  function pickView(view) {
    state.view = view === 'tasks' ? 'tasks' : 'cpu';
    for (const b of document.querySelectorAll('[data-view]')) b.setAttribute('aria-pressed', String(b.dataset.view === state.view));
    document.body.dataset.view = state.view;
    byId('idle').disabled = state.view === 'tasks';
    byId('idle').parentElement.title = state.view === 'tasks'
      ? 'the wall view counts every task, waiting ones included'
      : 'count samples of threads that were blocked, sleeping or waiting for the GIL';
    setText(byId('top-title'), state.view === 'tasks' ? 'Top functions · wall time' : 'Top functions');
    setText(byId('flame-title'), state.view === 'tasks' ? 'Flame graph · wall time' : 'Flame graph');
    table.setView(state.view);
    flame.unit = state.view === 'tasks' ? 'ms' : 'samples';
    if (state.hello) {
      flame.clear();
      if (state.flame) flameEmpty('Waiting for the flame graph…');
      state.flameId = null;
    }
  }

  function updateReportButton(live) {
    const b = byId('report');
    const has = !!(state.hello && Array.isArray(state.hello.commands) && state.hello.commands.includes('report'));
    b.disabled = !live || !has;
    b.title = has ? 'a text and HTML report of what the agent saw' : 'reports arrive with the report command';
  }

  function windowLabel(w) {
    return w === 'all' || w === 0 ? 'since start' : `last ${w} s`;
  }

  function onTop(m) {
    need(Array.isArray(m.rows), 'no rows');
    // a push of the view this viewer just left (sent before `live` arrived)
    if (typeof m.view === 'string' && m.view !== state.view) return;
    const tasks = m.view === 'tasks';
    // A `top` reply we asked for (live:false) and live pushes look the same.
    state.counts.top++;
    const rows = Spy.toptable.cleanRows(m.rows);
    const rate = tasks ? 1000 : Number(m.effective_rate) > 0 ? Number(m.effective_rate) : Number(m.rate);
    const t0 = performance.now();
    table.update(rows, { rate });
    const clean = threads.update(m.threads, tasks ? 'ms of task time' : 'samples');
    refreshThreadOptions(clean);
    const samples = Number(m.samples);
    const idle = Number(m.idle_samples);
    setText(byId('top-meta'),
      `${table.shown === rows.length ? rows.length : `${table.shown} of ${rows.length}`} functions · ` +
      (tasks ? `${fmtSeconds(samples / 1000)} of task wall time (${fmtCount(idle)} ms waiting) · `
        : `${fmtCount(samples)} samples${m.idle ? '' : Number.isFinite(idle) ? ` (+${fmtCount(idle)} idle not shown)` : ''} · `) +
      `${windowLabel(m.window)}`);
    state.lastTopMs = performance.now() - t0;
    maybeRequestFlame();
  }

  function sendLive(andTop) {
    const cmd = withView({ cmd: 'live', limit: state.limit, window: state.window === 'all' ? 'all' : Number(state.window), idle: state.idle });
    if (state.thread && state.threadFilter) cmd.thread = Number(state.thread);
    send(cmd, state.thread ? 'live-thread' : 'live');
    if (andTop) {
      const top = withView({ cmd: 'top', limit: state.limit, idle: state.idle });
      if (state.window !== 'all') top.window = Number(state.window);
      if (state.thread && state.threadFilter) top.thread = Number(state.thread);
      send(top, state.thread ? 'live-thread' : 'top');
    }
    state.flameAt = 0;
    maybeRequestFlame();
  }

  function refreshThreadOptions(list) {
    const sel = byId('thread');
    const want = [''].concat(list.map((t) => String(t.tid)));
    if (state.thread && !want.includes(state.thread)) want.push(state.thread);
    const have = Array.from(sel.options, (o) => o.value);
    const labels = new Map(list.map((t) => [String(t.tid), `${t.name} (${t.tid})`]));
    if (have.join() === want.join() && Array.from(sel.options).every((o, i) => !i || o.textContent === (labels.get(o.value) || o.textContent))) return;
    clear(sel);
    for (const v of want) sel.append(h('option', { value: v }, v ? (labels.get(v) || `thread ${v}`) : 'all threads'));
    sel.value = state.thread;
  }

  function pickThread(tid) {
    if (tid && !state.threadFilter) {
      toast('This agent cannot show one thread yet (its "live" command takes no "thread").');
      byId('thread').value = '';
      return;
    }
    state.thread = tid;
    byId('thread').value = tid;
    threads.select(tid);
    sendLive(true);
  }

  // ---------------------------------------------------------------- flame

  function flameEmpty(text) {
    const el = byId('flame-empty');
    setText(el, text);
    el.hidden = !text;
  }

  function maybeRequestFlame() {
    if (!state.flame || state.flamePushes || state.paused || !conn.isOpen) return;
    const now = performance.now();
    if (state.flameId && now - state.flameAt < 10000) return;    // one at a time
    if (now - state.flameAt < FLAME_MIN_MS) return;
    const cmd = withView({ cmd: 'flame', window: state.window === 'all' ? 'all' : Number(state.window), idle: state.idle });
    if (state.thread && state.threadFilter) cmd.thread = Number(state.thread);
    state.flameAt = now;
    state.flameId = send(cmd, 'flame');
  }

  function onFlame(m) {
    need(m.root && typeof m.root === 'object' && !Array.isArray(m.root), 'no root');
    need(typeof m.root.value === 'number' && Number.isFinite(m.root.value) && m.root.value >= 0, 'the root has no numeric value');
    need(m.root.children === undefined || Array.isArray(m.root.children), 'children is not a list');
    if (m.id === undefined) state.flamePushes = true;
    if (m.id !== undefined && m.id === state.flameId) state.flameId = null;
    if (typeof m.view === 'string' && m.view !== state.view) return;
    state.counts.flame++;
    flame.setData(m.root);
    flameEmpty(flame.n > 1 ? '' : 'No samples in this window yet.');
    const samples = flame.total;
    setText(byId('flame-meta'), `${windowLabel(m.window !== undefined ? m.window : state.window)} · ${fmtCount(samples)} ${flame.unit} · ${fmtCount(flame.n)} boxes`);
    showFlameMatch();
  }

  function showFlameMatch() {
    setText(byId('flame-match'), !flame.search ? '' : flame.unit === 'ms' ? `${flame.searchShare.toFixed(1)}% of wall time matches`
      : `${flame.searchShare.toFixed(1)}% of samples match`);
  }

  // ---------------------------------------------------------------- status

  function onStatus(m) {
    const prev = state.prevStatus;
    state.prevStatus = { samples: Number(m.samples), uptime: Number(m.uptime) };
    const rate = Number(m.rate), eff = Number(m.effective_rate);
    setText(byId('f-rate'), Number.isFinite(rate) ? (Number.isFinite(eff) && eff !== rate ? `${rate} Hz (budget: ${eff})` : `${rate} Hz`) : '–');
    if (prev && Number.isFinite(prev.samples) && m.uptime > prev.uptime && m.samples >= prev.samples) {
      setText(byId('f-achieved'), `${((m.samples - prev.samples) / (m.uptime - prev.uptime)).toFixed(0)} /s`);
    }
    const dropped = Number(m.dropped), fd = Number(m.frames_dropped);
    setText(byId('f-dropped'), `${fmtCount(Number.isFinite(dropped) ? dropped : 0)} samples · ${fmtCount(Number.isFinite(fd) ? fd : 0)} pushes`);
    setText(byId('f-uptime'), fmtSeconds(Number(m.uptime)));
    if (Number.isFinite(m.blocks)) blocks.setTotal(m.blocks);
    if (m.recording && typeof m.recording === 'object' && !state.recording) {
      // Someone else's recording (another viewer, wscat).
      state.recording = { seconds: Number(m.recording.seconds), elapsed: Number(m.recording.elapsed), samples: Number(m.recording.samples), mine: false, startedAt: performance.now() - 1000 * Number(m.recording.elapsed) };
      showRecordingBar();
    } else if (!m.recording && state.recording && !state.recording.mine) {
      endRecordingBar('');
    } else if (m.recording && state.recording && !state.recording.mine) {
      Object.assign(state.recording, { elapsed: Number(m.recording.elapsed), samples: Number(m.recording.samples) });
      showRecordingBar();
    }
  }

  // ---------------------------------------------------------------- record

  function startRecording() {
    if (state.recording && state.recording.mine) {
      send({ cmd: 'record', action: 'stop' }, 'record-stop');
      return;
    }
    const input = byId('rec-seconds');
    const seconds = Number(input.value);
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) {
      toast('Record for a whole number of seconds from 1 to 3600.', 'error');
      input.focus();
      return;
    }
    const formats = Array.from(document.querySelectorAll('input[name=fmt]:checked'), (c) => c.value);
    if (!formats.length) { toast('Choose at least one format to record.', 'error'); return; }
    send({ cmd: 'record', seconds, formats }, 'record');
  }

  function onRecordStarted(m) {
    state.recording = { seconds: Number(m.seconds), elapsed: 0, samples: 0, mine: true, startedAt: performance.now(), formats: m.formats };
    byId('record').textContent = 'Stop';
    byId('record').classList.add('danger');
    showRecordingBar();
    clearInterval(state.recTimer);
    state.recTimer = setInterval(showRecordingBar, 250);
  }

  function onRecordProgress(m) {
    if (!state.recording) onRecordStarted({ seconds: m.seconds, formats: [] });
    Object.assign(state.recording, { elapsed: Number(m.elapsed), samples: Number(m.samples), seconds: Number(m.seconds) });
    state.recording.startedAt = performance.now() - 1000 * Number(m.elapsed);
    state.recording.progress = true;
    showRecordingBar();
  }

  function showRecordingBar() {
    const r = state.recording;
    if (!r) return;
    const bar = byId('recbar');
    bar.hidden = false;
    bar.dataset.phase = r.progress ? 'progress' : 'started';
    const elapsed = Math.min(r.seconds, Math.max(r.elapsed || 0, (performance.now() - r.startedAt) / 1000));
    const left = Math.max(0, r.seconds - elapsed);
    byId('rec-fill').style.width = (r.seconds ? (100 * elapsed) / r.seconds : 0).toFixed(1) + '%';
    setText(byId('rec-text'), (r.mine ? 'Recording' : 'Another client is recording') +
      ` · ${Math.ceil(left)} s left of ${r.seconds} s · ${fmtCount(r.samples || 0)} samples`);
  }

  function endRecordingBar(text) {
    clearInterval(state.recTimer);
    state.recording = null;
    byId('record').textContent = 'Record';
    byId('record').classList.remove('danger');
    if (text) {
      byId('recbar').dataset.phase = 'ended';
      byId('rec-fill').style.width = '100%';
      setText(byId('rec-text'), text);
      setTimeout(() => { if (!state.recording) byId('recbar').hidden = true; }, 4000);
    } else {
      byId('recbar').hidden = true;
    }
  }

  function onRecordDone(m) {
    const mine = !state.recording || state.recording.mine;
    endRecordingBar(`Recorded ${fmtSeconds(Number(m.duration))} · ${fmtCount(Number(m.samples))} samples`);
    if (typeof m.error === 'string') toast(m.error, 'error', 12000);
    const files = recordings.add(m);
    const svg = files.find((f) => f.format === 'svg' && !f.view);
    if (svg && mine) viewSvg(svg.path);
  }

  function viewSvg(path) {
    const d = byId('view-dialog');
    const body = byId('view-body');
    clear(body);
    setText(byId('view-title'), path.split('/').pop());
    byId('view-open').href = fileUrl(path);
    body.append(h('iframe', { src: fileUrl(path), title: 'recorded flame graph', class: 'view-frame' }));
    if (!d.open) d.showModal();
  }

  // ---------------------------------------------------------------- dump, report

  let dumpText = '';
  function onDump(m) {
    const r = Spy.panels.renderDump(m);
    dumpText = r.text;
    const body = byId('dump-body');
    clear(body);
    body.append(r.node);
    setText(byId('dump-meta'), `${r.count} threads · ${new Date().toLocaleTimeString()}`);
    const d = byId('dump-dialog');
    if (!d.open) d.showModal();
  }

  function onReport(m) {
    const body = byId('view-body');
    clear(body);
    setText(byId('view-title'), 'Report');
    const files = Array.isArray(m.files) ? m.files.filter((f) => f && typeof f.path === 'string') : [];
    const html = files.find((f) => f.format === 'html' || /\.html?$/.test(f.path));
    byId('view-open').href = html ? fileUrl(html.path) : '#';
    byId('view-open').hidden = !html;
    if (files.length) {
      body.append(h('div', { class: 'report-files' }, files.map((f) =>
        h('a', { href: fileUrl(f.path), target: '_blank', rel: 'noopener', class: 'mono' }, f.path))));
    }
    if (typeof m.text === 'string') body.append(h('pre', { class: 'report-text' }, m.text));
    if (html) body.append(h('iframe', { src: fileUrl(html.path), class: 'view-frame', title: 'report' }));
    if (!files.length && typeof m.text !== 'string') body.append(h('pre', { class: 'report-text' }, JSON.stringify(m, null, 2)));
    const d = byId('view-dialog');
    if (!d.open) d.showModal();
  }

  function onError(m) {
    const purpose = m.id !== undefined ? state.pending.get(m.id) : undefined;
    if (m.id !== undefined) state.pending.delete(m.id);
    const text = typeof m.message === 'string' ? m.message : String(m.error);
    if (purpose === 'live-thread' && (m.error === 'bad_argument' || m.error === 'too_many_arguments')) {
      if (!state.threadFilter) return;   // the other half of the same refusal
      {
        state.threadFilter = false;
        toast('This agent cannot show one thread yet; showing all threads.');
      }
      state.thread = '';
      threads.select('');
      byId('thread').value = '';
      byId('thread').disabled = true;
      byId('thread').title = 'this agent cannot filter by thread yet';
      sendLive(true);
      return;
    }
    if (purpose === 'flame') {
      state.flameId = null;
      if (m.error === 'unknown_command') { state.flame = false; flameEmpty('This agent has no flame command.'); return; }
      if (m.error === 'bad_argument' && !state.threadFilter) return;   // asked with a thread before the refusal
    }
    if (purpose === 'live-view' || ((purpose === 'live' || purpose === 'top' || purpose === 'flame') && state.view === 'tasks'
        && m.error === 'bad_argument' && /view/.test(text))) {
      toast('This agent has no wall-time view; showing CPU samples.');
      state.viewSent = false;
      pickView('cpu');
      saveSettings();
      sendLive(true);
      return;
    }
    if (purpose === 'endpoints') {
      clearInterval(state.endpointsTimer);
      state.endpointsTimer = null;
      endpoints.message(`The agent did not give the wall-time table: ${text}`);
      return;
    }
    if (purpose === 'blocks') {
      blocks.message(`The agent did not list loop blocks: ${text}`);
      return;
    }
    if (purpose === 'record' && m.error === 'busy') {
      toast('A recording is already running (one at a time): ' + text, 'error');
      return;
    }
    toast(`The agent said: ${text}`, 'error');
  }

  function setPaused() {
    const b = byId('pause');
    b.textContent = state.paused ? 'Resume' : 'Pause';
    b.setAttribute('aria-pressed', String(state.paused));
    document.body.classList.toggle('paused', state.paused);
    if (state.connState === 'connected') setText(byId('conn-text'), state.paused ? 'connected · paused' : 'connected');
  }

  // ---------------------------------------------------------------- controls

  function init() {
    const s = loadSettings();
    byId('host').value = s.host;
    byId('port').value = s.port;
    byId('token').value = s.token;
    state.window = s.window;
    state.idle = s.idle;
    state.limit = s.limit;
    byId('idle').checked = state.idle;
    byId('limit').value = String(state.limit);
    for (const b of document.querySelectorAll('[data-window]')) b.setAttribute('aria-pressed', String(b.dataset.window === state.window));
    pickView(s.view);
    for (const b of document.querySelectorAll('[data-view]')) {
      b.addEventListener('click', () => {
        if (b.dataset.view === state.view) return;
        pickView(b.dataset.view);
        saveSettings();
        sendLive(true);
        requestEndpoints();
      });
    }

    byId('connect').addEventListener('submit', (e) => { e.preventDefault(); connect(); });
    for (const b of document.querySelectorAll('[data-window]')) {
      b.addEventListener('click', () => {
        state.window = b.dataset.window;
        for (const o of document.querySelectorAll('[data-window]')) o.setAttribute('aria-pressed', String(o === b));
        saveSettings();
        sendLive(true);
        requestEndpoints();
      });
    }
    byId('idle').addEventListener('change', (e) => { state.idle = e.target.checked; saveSettings(); sendLive(true); });
    byId('limit').addEventListener('change', (e) => { state.limit = Number(e.target.value); saveSettings(); sendLive(true); });
    byId('thread').addEventListener('change', (e) => pickThread(e.target.value));
    byId('filter').addEventListener('input', (e) => table.setFilter(e.target.value));
    byId('flame-search').addEventListener('input', (e) => { flame.setSearch(e.target.value); showFlameMatch(); });
    byId('flame-reset').addEventListener('click', () => flame.zoomTo(0));
    byId('pause').addEventListener('click', () => send({ cmd: state.paused ? 'resume' : 'pause' }, 'pause'));
    byId('reset').addEventListener('click', () => send({ cmd: 'reset' }, 'reset'));
    byId('record').addEventListener('click', startRecording);
    byId('dump').addEventListener('click', () => send({ cmd: 'dump' }, 'dump'));
    byId('dump-again').addEventListener('click', () => send({ cmd: 'dump' }, 'dump'));
    byId('dump-close').addEventListener('click', () => byId('dump-dialog').close());
    byId('dump-copy').addEventListener('click', async () => {
      const ok = await copyText(dumpText);
      toast(ok ? 'Copied the dump.' : 'Could not copy: select the text instead.', ok ? 'info' : 'warn', 2500);
    });
    byId('report').addEventListener('click', () => send({ cmd: 'report' }, 'report'));
    byId('view-close').addEventListener('click', () => byId('view-dialog').close());
    for (const d of document.querySelectorAll('dialog')) {
      d.addEventListener('click', (e) => { if (e.target === d) d.close(); });
    }
    onState({ state: 'stopped' });
    connect();
  }

  // For tests and people poking at the page from the console.
  window.spyViewer = {
    state, table, flame, conn, endpoints, blocks,
    /** Feed a raw message as if it came from the socket. */
    handleRaw(text) {
      let m = null;
      try { m = JSON.parse(text); } catch (_) { m = null; }
      if (!m || typeof m !== 'object' || Array.isArray(m) || typeof m.type !== 'string') m = { type: '__malformed', raw: String(text).slice(0, 200) };
      handle(m);
    },
  };

  init();
})(window.Spy = window.Spy || {});
