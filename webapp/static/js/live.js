// The event stream: one websocket, reconnected with backoff; the header shows its state.

import { toLogin } from "./api.js";

const indicator = () => document.getElementById("live");

function mark(state, text) {
  const el = indicator();
  if (!el) return;
  el.dataset.state = state;
  el.textContent = text;
}

/**
 * Follow `/ws?<query>`. `onEvent(e)` gets each event; `onOpen(reconnected)` runs on every open,
 * `query()` builds the query string for each attempt (so a reconnect can resume after a seq).
 */
export function follow({ query, onEvent, onOpen }) {
  let delay = 500;
  let opened = false;
  let closed = false;
  let socket = null;

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const q = query();
    socket = new WebSocket(`${proto}//${location.host}/ws${q ? "?" + q : ""}`);
    socket.onopen = () => {
      mark("open", "Live");
      delay = 500;
      const again = opened;
      opened = true;
      if (onOpen) onOpen(again);
    };
    socket.onmessage = (msg) => {
      let e;
      try {
        e = JSON.parse(msg.data);
      } catch {
        return;
      }
      onEvent(e);
    };
    socket.onclose = (ev) => {
      if (closed) return;
      if (ev.code === 4401) {
        toLogin();
        return;
      }
      mark("retrying", "Reconnecting…");
      setTimeout(connect, delay + Math.random() * 250);
      delay = Math.min(delay * 2, 8000);
    };
    socket.onerror = () => {}; // onclose follows and retries
  }

  mark("connecting", "Connecting…");
  connect();
  addEventListener("pagehide", () => {
    closed = true;
    if (socket) socket.close();
  });
  return { close: () => { closed = true; socket && socket.close(); } };
}
