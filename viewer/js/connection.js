// The WebSocket to the agent: connect, reconnect with back-off, and say in
// plain words why there is no connection.
//
// States (the `state` of every onState call):
//   connecting    a socket is being opened
//   connected     the agent said hello
//   auth          the agent wants a token and this page has none
//   refused       the agent closed with 4001 "bad token" (no retry until the
//                 user changes the token)
//   unreachable   the socket never opened: nothing listening, or the agent
//                 refused this page's origin (browsers do not say which)
//   disconnected  an open connection ended: the agent went away
//   stopped       the user pressed Disconnect
// After `unreachable` and `disconnected` the connection retries by itself
// after 0.5 s, 1 s, 2 s ... up to MAX_BACKOFF_MS; `retryIn` says when.

(function (Spy) {
  'use strict';

  const MAX_BACKOFF_MS = 5000;
  const FIRST_BACKOFF_MS = 500;

  class Connection {
    constructor({ onState, onMessage, onRaw }) {
      this.onState = onState;
      this.onMessage = onMessage;
      this.onRaw = onRaw || (() => {});
      this.ws = null;
      this.target = null;
      this.backoff = FIRST_BACKOFF_MS;
      this.timer = null;
      this.nextId = 1;
      this.gen = 0;
    }

    /** Open a connection to {host, port, token}; closes any previous one. */
    open(target) {
      this.close(false);
      this.target = { ...target };
      this.backoff = FIRST_BACKOFF_MS;
      this._connect();
    }

    /** Stop; with `user` the state becomes `stopped`. */
    close(user = true) {
      clearTimeout(this.timer);
      this.timer = null;
      this.gen++;
      if (this.ws) {
        const ws = this.ws;
        this.ws = null;
        try { ws.close(1000, 'viewer closed'); } catch (_) { /* already closed */ }
      }
      if (user) this.onState({ state: 'stopped', url: this.url() });
    }

    url(withToken = false) {
      if (!this.target) return '';
      const host = this.target.host.includes(':') && !this.target.host.startsWith('[')
        ? `[${this.target.host}]` : this.target.host;
      let u = `ws://${host}:${this.target.port}/`;
      if (withToken && this.target.token) u += '?token=' + encodeURIComponent(this.target.token);
      return u;
    }

    /** Send a JSON command; returns its id (replies echo it). */
    send(cmd) {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return null;
      const id = 'v' + this.nextId++;
      this.ws.send(JSON.stringify({ ...cmd, id }));
      return id;
    }

    get isOpen() {
      return !!this.ws && this.ws.readyState === WebSocket.OPEN;
    }

    _connect() {
      const gen = ++this.gen;
      let ws;
      this.onState({ state: 'connecting', url: this.url() });
      try {
        ws = new WebSocket(this.url(true));
      } catch (e) {
        this.onState({ state: 'refused', url: this.url(), reason: 'not a valid address: ' + e.message });
        return;
      }
      this.ws = ws;
      let opened = false;
      let greeted = false;
      ws.onopen = () => { opened = true; };
      ws.onmessage = (ev) => {
        if (gen !== this.gen) return;
        let msg = null;
        try {
          msg = typeof ev.data === 'string' ? JSON.parse(ev.data) : null;
        } catch (_) {
          msg = null;
        }
        this.onRaw(ev.data);
        if (!msg || typeof msg !== 'object' || Array.isArray(msg) || typeof msg.type !== 'string') {
          this.onMessage({ type: '__malformed', raw: String(ev.data).slice(0, 200) });
          return;
        }
        if (msg.type === 'hello' && !greeted) {
          greeted = true;
          this.backoff = FIRST_BACKOFF_MS;
          this.onState({ state: 'connected', url: this.url() });
        } else if (msg.type === 'auth_required') {
          if (this.target.token) {
            // Should not happen (the token went in the URL), but answer anyway.
            ws.send(JSON.stringify({ cmd: 'auth', token: this.target.token }));
          } else {
            this.onState({ state: 'auth', url: this.url() });
          }
        }
        this.onMessage(msg);
      };
      ws.onclose = (ev) => {
        if (gen !== this.gen) return;
        this.ws = null;
        if (ev.code === 4001) {
          this.onState({ state: 'refused', url: this.url(), reason: ev.reason || 'bad token', code: ev.code });
          return;
        }
        const state = opened ? 'disconnected' : 'unreachable';
        const delay = this.backoff;
        this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
        this.onState({ state, url: this.url(), code: ev.code, reason: ev.reason, retryIn: delay });
        this.timer = setTimeout(() => { if (gen === this.gen) this._connect(); }, delay);
      };
    }
  }

  Spy.connection = { Connection };
})(window.Spy = window.Spy || {});
