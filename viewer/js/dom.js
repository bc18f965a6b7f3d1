// DOM and formatting helpers shared by the viewer's modules.
//
// Everything the agent sends (function names, file paths, thread names,
// command lines) reaches the page through h() / setText(), which only ever
// create text nodes: no module of the viewer assigns innerHTML, so a function
// named `<img src=x onerror=...>` is shown as those characters and runs
// nothing.

(function (Spy) {
  'use strict';

  /** Create an element: h('td', {class: 'num', title: 'x'}, 'text', child). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'dataset') Object.assign(el.dataset, v);
        else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children) append(el, c);
    return el;
  }

  function append(el, c) {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) { for (const x of c) append(el, x); return; }
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }

  /** Replace an element's content with text (or nodes); cheap when unchanged. */
  function setText(el, text) {
    const s = String(text);
    if (el.textContent !== s) el.textContent = s;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
  }


  function fmtPct(x) {
    if (!Number.isFinite(x)) return '–';
    if (x >= 10) return x.toFixed(1);
    if (x >= 0.01) return x.toFixed(2);
    return x > 0 ? '<0.01' : '0.00';
  }

  /** Seconds as a short duration: 0.42s, 12.3s, 4m05s, 2h03m. */
  function fmtSeconds(s) {
    if (!Number.isFinite(s)) return '–';
    if (s < 10) return s.toFixed(2) + 's';
    if (s < 60) return s.toFixed(1) + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm' + String(Math.floor(s % 60)).padStart(2, '0') + 's';
    return Math.floor(s / 3600) + 'h' + String(Math.floor((s % 3600) / 60)).padStart(2, '0') + 'm';
  }

  function fmtCount(n) {
    if (!Number.isFinite(n)) return '–';
    if (n < 10000) return String(Math.round(n));
    if (n < 1e6) return (n / 1e3).toFixed(n < 1e5 ? 1 : 0) + 'k';
    return (n / 1e6).toFixed(1) + 'M';
  }

  function fmtBytes(n) {
    if (!Number.isFinite(n)) return '';
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1024 / 1024).toFixed(1) + ' MiB';
  }

  /** The last two path components: /usr/lib/python3.11/json/encoder.py -> json/encoder.py */
  function shortPath(p) {
    if (typeof p !== 'string') return '';
    const parts = p.split('/');
    return parts.length <= 2 ? p : parts.slice(-2).join('/');
  }

  /** A file:// URL for an absolute local path, each component escaped. */
  function fileUrl(path) {
    return 'file://' + String(path).split('/').map(encodeURIComponent).join('/');
  }

  /** Copy text to the clipboard; falls back to a hidden textarea on file:// pages. */
  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (_) {
      const ta = h('textarea', { style: 'position:fixed;left:-9999px;top:0' });
      ta.value = text;
      document.body.appendChild(ta);
      ta.select();
      let ok = false;
      try { ok = document.execCommand('copy'); } catch (_) { ok = false; }
      ta.remove();
      return ok;
    }
  }

  Spy.dom = { h, setText, clear, fmtPct, fmtSeconds, fmtCount, fmtBytes, shortPath, fileUrl, copyText };
})(window.Spy = window.Spy || {});
