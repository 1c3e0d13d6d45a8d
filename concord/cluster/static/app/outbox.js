// Answers wait here until the server confirms them.
//
// Each answer is saved in localStorage under its own key, so a closed tab, a
// reload or a dropped network loses nothing, and two tabs never overwrite each
// other's answers. A retry reuses the answer_id, so the server stores each
// answer once however often it arrives. Only a short form of the task is
// saved: a long document with its tokens would soon fill the storage quota.

import { STATE_HEADERS } from "./api.js";

const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 15000;
// Browsers refuse keepalive requests whose bodies add up to more than 64 KiB.
const KEEPALIVE_BYTES = 60000;

// crypto.randomUUID exists only in secure contexts (HTTPS or localhost),
// and a cluster may serve annotators over plain HTTP on a private network.
export function newAnswerId() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") {
    return window.crypto.randomUUID();
  }
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return [
    hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16),
    hex.slice(16, 20), hex.slice(20),
  ].join("-");
}

// What is kept of a task next to its pending answer: enough to list it.
function shortTask(task) {
  const text = typeof task.text === "string" ? task.text : "";
  return {
    _task_hash: task._task_hash,
    _input_hash: task._input_hash,
    snippet: text.slice(0, 200),
    short: true,
  };
}

export class Outbox {
  constructor(api, path, storagePrefix, callbacks) {
    this.api = api;
    this.path = path;
    this.prefix = storagePrefix;
    this.callbacks = callbacks;
    this.entries = this.load();
    this.inFlight = null;
    this.inFlightDone = null;
    this.retryTimer = null;
    this.failures = 0;
  }

  load() {
    const entries = [];
    try {
      for (let index = 0; index < window.localStorage.length; index += 1) {
        const key = window.localStorage.key(index);
        if (!key || !key.startsWith(this.prefix)) continue;
        const entry = JSON.parse(window.localStorage.getItem(key));
        if (entry && entry.body && entry.task) entries.push(entry);
      }
    } catch (error) {
      return entries;
    }
    return entries.sort((a, b) => (a.queuedAt || 0) - (b.queuedAt || 0));
  }

  storageKey(entry) {
    return this.prefix + entry.body.answer_id;
  }

  persist(entry) {
    const saved = { body: entry.body, task: shortTask(entry.task), queuedAt: entry.queuedAt };
    try {
      window.localStorage.setItem(this.storageKey(entry), JSON.stringify(saved));
    } catch (error) {
      // A full or disabled storage still leaves the answer in memory.
    }
  }

  unpersist(entry) {
    try {
      window.localStorage.removeItem(this.storageKey(entry));
    } catch (error) {
      // Nothing to clean up in a disabled storage.
    }
  }

  add(entry) {
    entry.queuedAt = Date.now();
    this.entries.push(entry);
    this.persist(entry);
    this.callbacks.onChange(this.entries.length);
    this.flush();
  }

  flush() {
    if (this.inFlight || !this.entries.length) return;
    if (this.retryTimer) {
      window.clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.sendNext();
  }

  async sendNext() {
    const entry = this.entries[0];
    if (!entry) return;
    this.inFlight = entry;
    this.inFlightDone = this.send(entry);
    const sent = await this.inFlightDone;
    this.inFlight = null;
    this.inFlightDone = null;
    if (sent) this.sendNext();
  }

  async send(entry) {
    let result;
    try {
      result = await this.api.post(`${this.path}/answers`, { answers: [entry.body] });
    } catch (error) {
      if (error.retryable) {
        this.scheduleRetry();
        return false;
      }
      if (error.status === 401) return false;
      this.remove(entry);
      this.callbacks.onRejected(entry, error);
      return true;
    }
    this.failures = 0;
    this.remove(entry);
    const duplicate = Boolean(result && (result.duplicates || []).includes(entry.body.answer_id));
    this.callbacks.onStored(entry, duplicate);
    return true;
  }

  scheduleRetry() {
    this.failures += 1;
    const backoff = Math.min(RETRY_BASE_MS * 2 ** (this.failures - 1), RETRY_MAX_MS);
    const delay = backoff / 2 + Math.random() * (backoff / 2);
    this.callbacks.onRetry(Math.ceil(delay / 1000));
    this.retryTimer = window.setTimeout(() => {
      this.retryTimer = null;
      this.flush();
    }, delay);
  }

  remove(entry) {
    this.entries = this.entries.filter((item) => item !== entry);
    this.unpersist(entry);
    this.callbacks.onChange(this.entries.length);
  }

  // Take back the newest answer if the server has not stored it. Waits for
  // a request that is sending that very answer, because only its outcome
  // tells whether the server has it.
  async takeBackLast() {
    const last = this.entries[this.entries.length - 1];
    if (!last) return null;
    if (last === this.inFlight) {
      await this.inFlightDone;
      if (!this.entries.includes(last)) return null;
    }
    this.remove(last);
    return last;
  }

  // Called as the page goes away: a keepalive request outlives the page, so
  // answers still waiting get one more chance. If it fails they stay saved
  // and the next visit sends them; the server drops any it already has.
  sendBeforeUnload() {
    const bodies = [];
    let size = 0;
    for (const entry of this.entries) {
      const length = JSON.stringify(entry.body).length;
      if (size + length > KEEPALIVE_BYTES) break;
      bodies.push(entry.body);
      size += length;
    }
    if (!bodies.length) return;
    try {
      fetch(`${this.path}/answers`, {
        method: "POST",
        credentials: "same-origin",
        keepalive: true,
        headers: STATE_HEADERS,
        body: JSON.stringify({ answers: bodies }),
      }).catch(() => {});
    } catch (error) {
      // The saved answers are sent on the next visit.
    }
  }
}
