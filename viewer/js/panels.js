// The smaller panels: the thread list, the thread dump as Python-style
// tracebacks, and the list of finished recordings with file:// links.
// Every string from the agent goes in as text (Spy.dom.h).

(function (Spy) {
  'use strict';
  const { h, setText, clear, fmtPct, fmtCount, fmtBytes, fmtSeconds, fileUrl } = Spy.dom;

  /** Threads from a `top` push: name, share of samples, idle/active, GIL. */
  class ThreadsPanel {
    constructor(list, meta, { onPick } = {}) {
      this.list = list;
      this.meta = meta;
      this.onPick = onPick || (() => {});
      this.items = new Map();   // tid -> li
      this.selected = '';
    }

    update(threads, unit = 'samples') {
      if (!Array.isArray(threads)) threads = [];
      const clean = threads.filter((t) => t && Number.isFinite(t.tid)).map((t) => ({
        tid: t.tid,
        name: typeof t.name === 'string' && t.name ? t.name : `thread ${t.tid}`,
        samples: Number.isFinite(t.samples) ? t.samples : 0,
        idle: t.idle === true,
        gil: t.gil === true,
      }));
      clean.sort((a, b) => b.samples - a.samples || a.tid - b.tid);
      const sum = clean.reduce((s, t) => s + t.samples, 0);
      const seen = new Set();
      let prev = null;
      for (const t of clean) {
        seen.add(t.tid);
        let li = this.items.get(t.tid);
        if (!li) {
          const name = h('span', { class: 'th-name' });
          const tid = h('span', { class: 'th-tid' });
          const badges = h('span', { class: 'th-badges' });
          const bar = h('span', { class: 'th-bar' }, h('span', { class: 'th-fill' }));
          const pct = h('span', { class: 'th-pct' });
          li = h('li', { class: 'thread', tabindex: 0 }, h('div', { class: 'th-line' }, name, tid, badges, pct), bar);
          li._p = { name, tid, badges, bar, pct };
          li.addEventListener('click', () => this.onPick(String(li.dataset.tid)));
          li.addEventListener('keydown', (e) => { if (e.key === 'Enter') this.onPick(String(li.dataset.tid)); });
          this.items.set(t.tid, li);
        }
        li.dataset.tid = t.tid;
        const p = li._p;
        setText(p.name, t.name);
        li.title = `${t.name} (tid ${t.tid}): ${fmtCount(t.samples)} ${unit} in the window`;
        setText(p.tid, t.tid);
        const share = sum ? (100 * t.samples) / sum : 0;
        setText(p.pct, fmtPct(share) + '%');
        p.bar.firstChild.style.width = share.toFixed(1) + '%';
        const want = (t.gil ? 'G' : '') + (t.idle ? 'i' : 'a');
        if (p.badges.dataset.k !== want) {
          p.badges.dataset.k = want;
          clear(p.badges);
          if (t.gil) p.badges.append(h('span', { class: 'badge gil', title: 'held the GIL when last sampled' }, 'GIL'));
          p.badges.append(t.idle
            ? h('span', { class: 'badge idle', title: 'blocked, sleeping or waiting when last sampled' }, 'idle')
            : h('span', { class: 'badge active', title: 'running when last sampled' }, 'active'));
        }
        li.classList.toggle('selected', this.selected === String(t.tid));
        // Keep DOM order = sorted order without rebuilding.
        const want_next = prev ? prev.nextSibling : this.list.firstChild;
        if (want_next !== li) this.list.insertBefore(li, want_next);
        prev = li;
      }
      for (const [tid, li] of this.items) {
        if (!seen.has(tid)) { li.remove(); this.items.delete(tid); }
      }
      setText(this.meta, clean.length ? `${clean.length} · ${fmtCount(sum)} ${unit}` : '');
      return clean;
    }

    select(tid) {
      this.selected = tid || '';
      for (const [k, li] of this.items) li.classList.toggle('selected', String(k) === this.selected);
    }
  }

  /** A `dump` reply as tracebacks: returns {node, text} (text for the Copy button). */
  function renderDump(msg) {
    const threads = Array.isArray(msg.threads) ? msg.threads.filter((t) => t && typeof t === 'object') : [];
    // The main thread first, then by name.
    threads.sort((a, b) => (b.name === 'MainThread') - (a.name === 'MainThread') ||
      String(a.name).localeCompare(String(b.name)) || (a.tid - b.tid));
    const node = h('div', { class: 'dump' });
    const text = [];
    for (const t of threads) {
      const name = typeof t.name === 'string' && t.name ? t.name : 'thread';
      const frames = Array.isArray(t.frames) ? t.frames.filter((f) => f && typeof f === 'object') : [];
      const state = [t.gil ? 'holds the GIL' : null, t.idle ? 'idle' : 'running', t.truncated ? 'stack truncated' : null]
        .filter(Boolean).join(' · ');
      const head = `Thread "${name}" (tid ${t.tid})`;
      const lines = ['Traceback (most recent call last):'];
      for (let i = frames.length - 1; i >= 0; i--) {
        const f = frames[i];
        lines.push(`  File "${typeof f.file === 'string' ? f.file : '?'}", line ${Number.isFinite(f.line) ? f.line : '?'}, in ${typeof f.function === 'string' ? f.function : '?'}`);
      }
      if (!frames.length) lines.push('  (no Python frames)');
      if (t.truncated) lines.splice(1, 0, '  ... (outer frames not shown)');
      text.push(`${head} ${state}\n${lines.join('\n')}`);
      node.append(h('section', { class: 'dump-thread' + (name === 'MainThread' ? ' main' : ''), dataset: { tid: t.tid } },
        h('div', { class: 'dump-head' },
          h('span', { class: 'dump-name' }, name),
          h('span', { class: 'meta' }, `tid ${t.tid}`),
          t.gil ? h('span', { class: 'badge gil' }, 'GIL') : null,
          h('span', { class: 'badge ' + (t.idle ? 'idle' : 'active') }, t.idle ? 'idle' : 'running'),
          t.truncated ? h('span', { class: 'badge warn' }, 'truncated') : null),
        h('pre', { class: 'trace' }, lines.join('\n'))));
    }
    if (!threads.length) node.append(h('p', { class: 'meta' }, 'The agent saw no Python threads.'));
    return { node, text: text.join('\n\n') + '\n', count: threads.length };
  }

  /** Finished recordings, newest first, each with its files as file:// links. */
  class RecordingsPanel {
    constructor(section, list, { onView } = {}) {
      this.section = section;
      this.list = list;
      this.onView = onView || (() => {});
    }

    add(msg) {
      const files = Array.isArray(msg.files) ? msg.files.filter((f) => f && typeof f.path === 'string') : [];
      const when = new Date().toLocaleTimeString();
      const li = h('li', { class: 'rec' },
        h('div', { class: 'rec-head' },
          h('strong', null, when),
          h('span', { class: 'meta' },
            `${fmtSeconds(Number(msg.duration))} · ${fmtCount(Number(msg.samples))} samples` +
            (Number.isFinite(msg.unique_stacks) ? ` · ${fmtCount(msg.unique_stacks)} stacks` : ''))),
        files.map((f) => h('div', { class: 'rec-file' },
          h('span', { class: 'fmt', title: f.view === 'tasks' ? 'the asyncio task wall-time view' : null },
            (f.view === 'tasks' ? 'wall ' : '') + (typeof f.format === 'string' ? f.format : 'file')),
          h('a', { href: fileUrl(f.path), target: '_blank', rel: 'noopener', title: f.path, class: 'mono' }, f.path.split('/').pop()),
          h('span', { class: 'meta' }, fmtBytes(Number(f.bytes))),
          f.format === 'svg' ? h('button', { class: 'small', onclick: () => this.onView(f.path) }, 'view') : null)),
        typeof msg.error === 'string' ? h('div', { class: 'rec-error' }, msg.error) : null,
        !files.length && typeof msg.error !== 'string' ? h('div', { class: 'meta' }, 'no files were written') : null);
      this.list.prepend(li);
      while (this.list.children.length > 8) this.list.lastChild.remove();
      this.section.hidden = false;
      return files;
    }
  }

  Spy.panels = { ThreadsPanel, renderDump, RecordingsPanel };
})(window.Spy = window.Spy || {});
