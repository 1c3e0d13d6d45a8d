// The annotation page: fetches leased tasks from the cluster, shows one at a
// time in the feed's interface, and sends answers back. Task data is
// untrusted, so it only ever reaches the page through textContent and DOM
// nodes, never through innerHTML.
"use strict";

(() => {
  const QUEUE_LOW_WATER = 3;
  const FETCH_COUNT = 10;
  const HISTORY_SIZE = 10;
  const PROGRESS_INTERVAL_MS = 1500;
  const RETRY_BASE_MS = 1000;
  const RETRY_MAX_MS = 30000;
  const TOAST_MS = 3500;
  const SNIPPET_LENGTH = 90;
  const LABEL_COLORS = [
    ["#fde68a", "#92400e"],
    ["#bfdbfe", "#1e3a8a"],
    ["#bbf7d0", "#14532d"],
    ["#fecaca", "#7f1d1d"],
    ["#ddd6fe", "#4c1d95"],
    ["#fbcfe8", "#831843"],
    ["#a5f3fc", "#164e63"],
    ["#fed7aa", "#7c2d12"],
    ["#d9f99d", "#365314"],
    ["#e9d5ff", "#581c87"],
  ];
  const UNKNOWN_LABEL_COLOR = ["#e5e7eb", "#1f2937"];

  // ---------------------------------------------------------------- helpers

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function keyHint(text) {
    return element("kbd", null, text);
  }

  function plural(count, singular, pluralForm) {
    return `${count} ${count === 1 ? singular : pluralForm || singular + "s"}`;
  }

  // crypto.randomUUID exists only in secure contexts (HTTPS or localhost),
  // and a cluster may serve annotators over plain HTTP on a private network.
  function newAnswerId() {
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

  // Offsets from the server are Python code points, but JavaScript strings
  // index UTF-16 code units, which differ for characters outside the BMP
  // (most emoji). This maps code point offsets to UTF-16 indices once per text.
  class CodePointText {
    constructor(text) {
      this.text = text;
      this.unitOffsets = [0];
      let units = 0;
      for (const char of text) {
        units += char.length;
        this.unitOffsets.push(units);
      }
    }

    get length() {
      return this.unitOffsets.length - 1;
    }

    unitIndex(codePoint) {
      const clamped = Math.max(0, Math.min(codePoint, this.length));
      return this.unitOffsets[clamped];
    }

    slice(start, end) {
      return this.text.slice(this.unitIndex(start), this.unitIndex(end));
    }
  }

  function taskText(task) {
    if (typeof task.text === "string") return task.text;
    if (typeof task.html === "string") return htmlToText(task.html);
    return "";
  }

  // DOMParser builds an inert document: scripts do not run and resources are
  // not fetched, so reading its textContent is a safe way to show HTML as text.
  function htmlToText(html) {
    const parsed = new DOMParser().parseFromString(String(html), "text/html");
    return parsed.body.textContent || "";
  }

  function snippet(task) {
    const chars = Array.from(taskText(task).replace(/\s+/g, " ").trim());
    if (chars.length <= SNIPPET_LENGTH) return chars.join("");
    return chars.slice(0, SNIPPET_LENGTH).join("") + "…";
  }

  // ---------------------------------------------------------------- config

  function readConfig() {
    const feed = JSON.parse(document.getElementById("feed-config").textContent);
    const body = document.body.dataset;
    return {
      feed,
      reauthUrl: body.reauthUrl || "",
      userId: body.userId || "anonymous",
      base: `/api/feeds/${encodeURIComponent(feed.id)}`,
    };
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(message, status, code) {
      super(message);
      this.status = status;
      this.code = code;
    }

    get retryable() {
      return this.status === 0 || this.status >= 500;
    }
  }

  function createApi(reauthUrl) {
    async function request(method, path, body) {
      const init = { method, credentials: "same-origin", headers: {} };
      if (method !== "GET") {
        init.headers["X-Concord-Request"] = "1";
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body === undefined ? {} : body);
      }
      let response;
      try {
        response = await fetch(path, init);
      } catch (error) {
        throw new ApiError(`Network error: ${error.message}`, 0, "network");
      }
      if (response.status === 401) {
        expireSession(reauthUrl);
        throw new ApiError("The session expired.", 401, "unauthorized");
      }
      return readResponse(response);
    }

    return {
      get: (path) => request("GET", path),
      post: (path, body) => request("POST", path, body),
    };
  }

  function expireSession(reauthUrl) {
    if (reauthUrl) {
      window.location.assign(reauthUrl);
    } else {
      showToast("Your session expired. Sign in again from the projects page.");
    }
  }

  async function readResponse(response) {
    let payload = null;
    try {
      payload = await response.json();
    } catch (error) {
      payload = null;
    }
    if (response.ok) return payload;
    const detail = payload && payload.error ? payload.error : {};
    const message = detail.message || `Request failed with HTTP status ${response.status}.`;
    throw new ApiError(message, response.status, detail.code || "http_error");
  }

  // ---------------------------------------------------------------- outbox

  // Answers wait here until the server confirms them. The list is mirrored
  // in localStorage so a closed tab or a dropped network loses nothing, and a
  // retry reuses the answer_id, so the server stores each answer once.
  class Outbox {
    constructor(api, path, storageKey, callbacks) {
      this.api = api;
      this.path = path;
      this.storageKey = storageKey;
      this.callbacks = callbacks;
      this.entries = this.load();
      this.inFlight = null;
      this.inFlightDone = null;
      this.retryTimer = null;
      this.failures = 0;
    }

    load() {
      try {
        const stored = JSON.parse(window.localStorage.getItem(this.storageKey));
        return Array.isArray(stored) ? stored : [];
      } catch (error) {
        return [];
      }
    }

    save() {
      try {
        if (this.entries.length) {
          window.localStorage.setItem(this.storageKey, JSON.stringify(this.entries));
        } else {
          window.localStorage.removeItem(this.storageKey);
        }
      } catch (error) {
        // A full or disabled storage still leaves the answers in memory.
      }
      this.callbacks.onChange(this.entries.length);
    }

    add(entry) {
      this.entries.push(entry);
      this.save();
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
      try {
        await this.api.post(`${this.path}/answers`, { answers: [entry.body] });
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
      this.callbacks.onStored(entry);
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
      this.save();
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
  }

  // ---------------------------------------------------------------- text views

  // Appends the text to `container`, wrapping each span in a <mark> with its
  // label. Spans that overlap an earlier one or fall outside the text are
  // skipped, because a flat rendering cannot nest them.
  function appendHighlightedText(container, text, spans, colorFor) {
    const index = new CodePointText(text);
    const ordered = (Array.isArray(spans) ? spans : [])
      .filter((s) => Number.isInteger(s.start) && Number.isInteger(s.end))
      .filter((s) => s.start >= 0 && s.start < s.end && s.end <= index.length)
      .sort((a, b) => a.start - b.start || b.end - a.end);
    let cursor = 0;
    for (const span of ordered) {
      if (span.start < cursor) continue;
      container.append(index.slice(cursor, span.start));
      container.append(highlightMark(index.slice(span.start, span.end), span.label, colorFor));
      cursor = span.end;
    }
    container.append(index.slice(cursor, index.length));
  }

  function highlightMark(text, label, colorFor) {
    const mark = element("mark", "highlight", text);
    if (label) {
      const [background, foreground] = colorFor(label);
      mark.style.setProperty("--span-bg", background);
      mark.style.setProperty("--span-fg", foreground);
      mark.append(element("span", "span-label", label));
    }
    return mark;
  }

  function textBlock(task, spans, colorFor) {
    const block = element("div", "task-text");
    block.dir = "auto";
    const text = taskText(task);
    if (!text) {
      block.classList.add("empty");
      block.textContent = "This task has no text to show.";
      return block;
    }
    appendHighlightedText(block, text, spans, colorFor);
    return block;
  }

  function metaLine(task) {
    const meta = task.meta;
    if (!meta || typeof meta !== "object") return null;
    const entries = Object.entries(meta).filter(([, value]) => value !== null);
    if (!entries.length) return null;
    const list = element("dl", "task-meta");
    for (const [key, value] of entries.slice(0, 8)) {
      list.append(element("dt", null, key));
      const display = typeof value === "object" ? JSON.stringify(value) : String(value);
      list.append(element("dd", null, display));
    }
    return list;
  }

  class BinaryView {
    constructor(task, context) {
      this.task = task;
      this.context = context;
    }

    render() {
      const fragment = document.createDocumentFragment();
      const label = this.task.label || this.context.feed.label;
      if (label) {
        const heading = element("p", "task-label");
        heading.append(element("span", "task-label-name", label));
        fragment.append(heading);
      }
      fragment.append(textBlock(this.task, this.task.spans, this.context.colorFor));
      const meta = metaLine(this.task);
      if (meta) fragment.append(meta);
      return fragment;
    }

    answerFields() {
      return {};
    }

    restore() {}

    handleKey() {
      return false;
    }

    describe() {
      return this.task.label || this.context.feed.label || "";
    }
  }

  class ChoiceView {
    constructor(task, context) {
      this.task = task;
      this.context = context;
      const feedOptions = context.feed.options;
      this.options = Array.isArray(feedOptions) && feedOptions.length
        ? feedOptions
        : (Array.isArray(task.options) ? task.options : []);
      this.multiple = Boolean(context.feed.multiple);
      this.selected = new Set();
      this.buttons = [];
    }

    render() {
      const fragment = document.createDocumentFragment();
      if (this.task.label) fragment.append(element("p", "task-question", this.task.label));
      fragment.append(textBlock(this.task, this.task.spans, this.context.colorFor));
      fragment.append(this.renderOptions());
      const meta = metaLine(this.task);
      if (meta) fragment.append(meta);
      return fragment;
    }

    renderOptions() {
      const group = element("div", "options");
      group.setAttribute("role", "group");
      group.setAttribute(
        "aria-label",
        this.multiple ? "Options: choose any" : "Options: choose one",
      );
      if (!this.options.length) {
        group.append(element("p", "card-message", "This task has no options."));
      }
      this.buttons = this.options.map((option, position) => {
        const button = this.optionButton(option, position);
        group.append(button);
        return button;
      });
      return group;
    }

    optionButton(option, position) {
      const button = element("button", "option");
      button.type = "button";
      button.setAttribute("aria-pressed", "false");
      if (position < 9) button.append(keyHint(String(position + 1)));
      const check = element("span", "option-check");
      check.setAttribute("aria-hidden", "true");
      button.append(check, element("span", "option-text", optionText(option)));
      button.addEventListener("click", () => this.toggle(position));
      return button;
    }

    toggle(position) {
      const option = this.options[position];
      if (!option) return;
      const id = optionId(option);
      if (this.selected.has(id)) {
        this.selected.delete(id);
      } else {
        if (!this.multiple) this.selected.clear();
        this.selected.add(id);
      }
      this.syncButtons();
    }

    syncButtons() {
      this.buttons.forEach((button, position) => {
        const chosen = this.selected.has(optionId(this.options[position]));
        button.setAttribute("aria-pressed", chosen ? "true" : "false");
      });
    }

    answerFields() {
      // Keep the options' order so the stored list does not depend on clicks.
      const accept = this.options.map(optionId).filter((id) => this.selected.has(id));
      return { accept };
    }

    restore(body) {
      this.selected = new Set(Array.isArray(body.accept) ? body.accept.map(String) : []);
      this.syncButtons();
    }

    handleKey(event) {
      if (!/^[1-9]$/.test(event.key)) return false;
      this.toggle(Number(event.key) - 1);
      return true;
    }

    describe() {
      const chosen = this.options.filter((option) => this.selected.has(optionId(option)));
      return chosen.map(optionText).join(", ");
    }
  }

  // The answers route takes option ids as strings, whatever type the task used.
  function optionId(option) {
    return String(option.id);
  }

  function optionText(option) {
    if (typeof option.text === "string") return option.text;
    if (typeof option.html === "string") return htmlToText(option.html);
    return String(option.id);
  }

  // ---------------------------------------------------------------- NER view

  // Spans are kept as token index ranges and turned into code point offsets
  // only from the server's token start and end, so the browser's UTF-16
  // string indices never leak into an answer.
  class NerView {
    constructor(task, context) {
      this.task = task;
      this.context = context;
      this.text = new CodePointText(typeof task.text === "string" ? task.text : "");
      this.tokens = Array.isArray(task.tokens) ? task.tokens : [];
      this.spans = [];
      this.anchor = null;
      this.cursor = null;
      this.drag = null;
      this.lastPointerType = "mouse";
      this.tokenElements = [];
      this.container = null;
      this.spans = this.spansFromOffsets(task.spans);
    }

    spansFromOffsets(spans) {
      const result = [];
      for (const span of Array.isArray(spans) ? spans : []) {
        const range = this.tokenRange(span);
        if (range && !this.overlapping(range[0], range[1], result)) {
          result.push({ tokenStart: range[0], tokenEnd: range[1], label: span.label });
        }
      }
      return result.sort((a, b) => a.tokenStart - b.tokenStart);
    }

    // Snaps a span given in code points to the tokens it touches.
    tokenRange(span) {
      if (!Number.isInteger(span.start) || !Number.isInteger(span.end)) return null;
      let first = -1;
      let last = -1;
      this.tokens.forEach((token, position) => {
        if (token.end > span.start && token.start < span.end) {
          if (first === -1) first = position;
          last = position;
        }
      });
      return first === -1 ? null : [first, last];
    }

    overlapping(start, end, spans = this.spans) {
      return spans.find((span) => start <= span.tokenEnd && end >= span.tokenStart) || null;
    }

    render() {
      const fragment = document.createDocumentFragment();
      this.container = element("div", "task-text tokens");
      this.container.dir = "auto";
      this.container.tabIndex = 0;
      this.container.setAttribute(
        "aria-label",
        "Text. Arrow keys move between tokens, Shift with an arrow extends the " +
          "selection, Enter adds a span with the active label.",
      );
      this.bindPointer();
      this.redraw();
      fragment.append(this.container);
      const meta = metaLine(this.task);
      if (meta) fragment.append(meta);
      return fragment;
    }

    redraw() {
      const container = this.container;
      container.replaceChildren();
      this.tokenElements = [];
      if (!this.tokens.length) {
        container.classList.add("empty");
        container.textContent = this.text.text || "This task has no tokens to annotate.";
        return;
      }
      container.append(this.text.slice(0, this.tokens[0].start));
      let position = 0;
      while (position < this.tokens.length) {
        const span = this.spans.find((item) => item.tokenStart === position);
        position = span ? this.appendSpan(span) : this.appendToken(container, position);
      }
      const lastEnd = this.tokens[this.tokens.length - 1].end;
      container.append(this.text.slice(lastEnd, this.text.length));
      this.updatePreview();
    }

    // Appends token `position` and the whitespace after it up to the next
    // token, then returns the next position.
    appendToken(parent, position, withGap = true) {
      const token = this.tokens[position];
      const node = element("span", "token", this.text.slice(token.start, token.end));
      node.dataset.index = String(position);
      this.tokenElements[position] = node;
      parent.append(node);
      const next = this.tokens[position + 1];
      if (withGap && next) parent.append(this.text.slice(token.end, next.start));
      return position + 1;
    }

    appendSpan(span) {
      const [background, foreground] = this.context.colorFor(span.label);
      const mark = element("span", "span");
      mark.style.setProperty("--span-bg", background);
      mark.style.setProperty("--span-fg", foreground);
      for (let position = span.tokenStart; position <= span.tokenEnd; position += 1) {
        this.appendToken(mark, position, position < span.tokenEnd);
      }
      mark.append(element("span", "span-label", span.label));
      mark.append(this.removeButton(span));
      this.container.append(mark);
      const next = this.tokens[span.tokenEnd + 1];
      if (next) {
        this.container.append(this.text.slice(this.tokens[span.tokenEnd].end, next.start));
      }
      return span.tokenEnd + 1;
    }

    removeButton(span) {
      const button = element("button", "span-remove", "×");
      button.type = "button";
      button.setAttribute(
        "aria-label",
        `Remove ${span.label} span “${this.spanText(span)}”`,
      );
      button.addEventListener("pointerdown", (event) => event.stopPropagation());
      button.addEventListener("click", () => {
        this.spans = this.spans.filter((item) => item !== span);
        this.redraw();
        this.container.focus({ preventScroll: true });
      });
      return button;
    }

    spanText(span) {
      return this.text.slice(this.tokens[span.tokenStart].start, this.tokens[span.tokenEnd].end);
    }

    bindPointer() {
      const container = this.container;
      container.addEventListener("pointerdown", (event) => this.onPointerDown(event));
      container.addEventListener("pointerover", (event) => this.onPointerOver(event));
      container.addEventListener("pointercancel", () => {
        this.drag = null;
        this.updatePreview();
      });
      container.addEventListener("dblclick", (event) => this.onDoubleClick(event));
      container.addEventListener("keydown", (event) => this.onTextKey(event));
      this.onPointerUp = (event) => this.finishDrag(event);
      document.addEventListener("pointerup", this.onPointerUp);
    }

    detach() {
      document.removeEventListener("pointerup", this.onPointerUp);
    }

    tokenAt(target) {
      const node = target instanceof Element ? target.closest(".token") : null;
      if (!node || !this.container.contains(node)) return null;
      return Number(node.dataset.index);
    }

    onPointerDown(event) {
      const position = this.tokenAt(event.target);
      if (position === null || event.button !== 0) return;
      this.lastPointerType = event.pointerType;
      this.drag = { from: position, to: position, shift: event.shiftKey };
      this.cursor = position;
      this.updatePreview();
    }

    onPointerOver(event) {
      if (!this.drag) return;
      const position = this.tokenAt(event.target);
      if (position === null || position === this.drag.to) return;
      this.drag.to = position;
      this.cursor = position;
      this.updatePreview();
    }

    finishDrag() {
      const drag = this.drag;
      if (!drag) return;
      this.drag = null;
      if (drag.from !== drag.to) {
        this.anchor = null;
        this.addSpan(drag.from, drag.to);
      } else {
        this.clickToken(drag.from, drag.shift);
      }
    }

    // A click sets the start token and a shift-click on another token ends
    // the span there. Touch screens have no shift key, so a second tap ends it.
    clickToken(position, shift) {
      const extend = shift || this.lastPointerType === "touch";
      if (extend && this.anchor !== null) {
        const start = this.anchor;
        this.anchor = null;
        this.addSpan(start, position);
        return;
      }
      this.anchor = position;
      this.updatePreview();
    }

    onDoubleClick(event) {
      const position = this.tokenAt(event.target);
      if (position === null || this.lastPointerType === "touch") return;
      event.preventDefault();
      this.anchor = null;
      this.addSpan(position, position);
    }

    onTextKey(event) {
      if (event.altKey || event.ctrlKey || event.metaKey || !this.tokens.length) return;
      if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        event.preventDefault();
        event.stopPropagation();
        // Token order is reading order, which runs leftwards in Arabic or Hebrew.
        const rtl = window.getComputedStyle(this.container).direction === "rtl";
        const forward = (event.key === "ArrowRight") !== rtl;
        this.moveCursor(forward ? 1 : -1, event.shiftKey);
      } else if (event.key === "Enter" && this.cursor !== null) {
        event.preventDefault();
        event.stopPropagation();
        const start = this.anchor === null ? this.cursor : this.anchor;
        this.anchor = null;
        this.addSpan(start, this.cursor);
      } else if (event.key === "Escape" && (this.anchor !== null || this.cursor !== null)) {
        event.stopPropagation();
        this.anchor = null;
        this.cursor = null;
        this.updatePreview();
      }
    }

    moveCursor(step, extend) {
      if (this.cursor === null) {
        this.cursor = step > 0 ? 0 : this.tokens.length - 1;
      } else {
        if (extend && this.anchor === null) this.anchor = this.cursor;
        this.cursor = Math.max(0, Math.min(this.tokens.length - 1, this.cursor + step));
      }
      if (!extend) this.anchor = null;
      this.updatePreview();
      const node = this.tokenElements[this.cursor];
      if (node) node.scrollIntoView({ block: "nearest" });
    }

    selection() {
      if (this.drag) return [this.drag.from, this.drag.to];
      if (this.anchor !== null) return [this.anchor, this.cursor ?? this.anchor];
      return null;
    }

    updatePreview() {
      const selection = this.selection();
      const low = selection ? Math.min(...selection) : -1;
      const high = selection ? Math.max(...selection) : -2;
      this.tokenElements.forEach((node, position) => {
        node.classList.toggle("selecting", position >= low && position <= high);
        node.classList.toggle("cursor", position === this.cursor);
      });
    }

    addSpan(first, last) {
      const start = Math.min(first, last);
      const end = Math.max(first, last);
      const label = this.context.activeLabel();
      if (!label) {
        showToast("Pick a label first: this feed has no labels configured.");
        return this.updatePreview();
      }
      const clash = this.overlapping(start, end);
      if (clash) {
        showToast(
          `That selection overlaps the ${clash.label} span “${this.spanText(clash)}”. ` +
            "Remove that span first (×).",
        );
        return this.updatePreview();
      }
      this.spans.push({ tokenStart: start, tokenEnd: end, label });
      this.spans.sort((a, b) => a.tokenStart - b.tokenStart);
      this.cursor = end;
      this.redraw();
    }

    answerFields() {
      const spans = this.spans.map((span) => ({
        start: this.tokens[span.tokenStart].start,
        end: this.tokens[span.tokenEnd].end,
        label: span.label,
      }));
      return { spans };
    }

    restore(body) {
      this.spans = this.spansFromOffsets(body.spans);
      if (this.container) this.redraw();
    }

    handleKey(event) {
      if (!/^[1-9]$/.test(event.key)) return false;
      this.context.selectLabel(Number(event.key) - 1);
      return true;
    }

    describe() {
      return this.spans.map((span) => `${span.label}: ${this.spanText(span)}`).join(", ");
    }
  }

  const VIEWS = { binary: BinaryView, choice: ChoiceView, ner_manual: NerView };

  // ---------------------------------------------------------------- toast

  let toastTimer = null;

  function showToast(message) {
    const toast = document.getElementById("toast");
    toast.textContent = message;
    toast.hidden = false;
    window.clearTimeout(toastTimer);
    toastTimer = window.setTimeout(() => {
      toast.hidden = true;
    }, TOAST_MS);
  }

  // ---------------------------------------------------------------- label bar

  class LabelBar {
    constructor(container, labels, colorFor) {
      this.container = container;
      this.labels = labels;
      this.colorFor = colorFor;
      this.active = 0;
      this.buttons = [];
    }

    render() {
      this.container.hidden = false;
      this.container.replaceChildren();
      if (!this.labels.length) {
        this.container.append(element("p", "card-message", "This feed has no labels."));
      }
      this.buttons = this.labels.map((label, position) => {
        const button = element("button", "label-choice");
        button.type = "button";
        const [background, foreground] = this.colorFor(label);
        button.style.setProperty("--span-bg", background);
        button.style.setProperty("--span-fg", foreground);
        if (position < 9) button.append(keyHint(String(position + 1)));
        button.append(element("span", null, label));
        button.addEventListener("click", () => this.select(position));
        this.container.append(button);
        return button;
      });
      this.select(this.active);
    }

    select(position) {
      if (position < 0 || position >= this.labels.length) return;
      this.active = position;
      this.buttons.forEach((button, index) => {
        button.setAttribute("aria-pressed", index === position ? "true" : "false");
      });
    }

    current() {
      return this.labels[this.active] || null;
    }
  }

  // Feed labels take the palette in order. Labels met only on tasks (model
  // suggestions in binary or choice feeds) take the next free colours.
  function labelColors(labels) {
    const colors = new Map();
    const assign = (label) => {
      colors.set(label, LABEL_COLORS[colors.size % LABEL_COLORS.length]);
    };
    labels.forEach(assign);
    return (label) => {
      if (typeof label !== "string" || !label) return UNKNOWN_LABEL_COLOR;
      if (!colors.has(label)) assign(label);
      return colors.get(label);
    };
  }

  // ---------------------------------------------------------------- dialogs

  const COMMON_KEYS = [
    ["a", "Accept the task"],
    ["x", "Reject the task"],
    ["space", "Ignore the task (skip it)"],
    ["⌫ backspace", "Undo the last answer"],
    ["i", "Show or hide the instructions"],
    ["?", "Show or hide this list"],
    ["esc", "Close a dialog"],
  ];

  const INTERFACE_KEYS = {
    binary: [],
    choice: [["1 – 9", "Choose or clear option 1 to 9"]],
    ner_manual: [
      ["1 – 9", "Pick label 1 to 9 for new spans"],
      ["drag", "Select tokens with the mouse to add a span"],
      ["click, shift-click", "Click the first token, shift-click the last one"],
      ["double-click", "Add a span for one word"],
      ["← →", "Move between tokens once the text has focus"],
      ["shift + ← →", "Extend the selection"],
      ["enter", "Add a span for the selection"],
      ["×", "Remove a span"],
    ],
  };

  function fillHelp(interfaceName) {
    const body = document.getElementById("help-keys");
    const rows = [...(INTERFACE_KEYS[interfaceName] || []), ...COMMON_KEYS];
    for (const [key, action] of rows) {
      const row = element("tr");
      const keyCell = element("th");
      keyCell.scope = "row";
      keyCell.append(keyHint(key));
      row.append(keyCell, element("td", null, action));
      body.append(row);
    }
  }

  function fillInstructions(instructions) {
    const box = document.getElementById("instructions-text");
    const text = typeof instructions === "string" ? instructions.trim() : "";
    box.textContent = text || "This feed has no instructions.";
    box.classList.toggle("empty", !text);
  }

  function toggleDialog(dialog) {
    if (dialog.open) {
      dialog.close();
      return;
    }
    for (const other of document.querySelectorAll("dialog[open]")) other.close();
    dialog.showModal();
  }

  // ---------------------------------------------------------------- the page

  class AnnotationPage {
    constructor(config) {
      this.config = config;
      this.feed = config.feed;
      this.api = createApi(config.reauthUrl);
      this.queue = [];
      this.seen = new Set();
      this.history = [];
      this.current = null;
      this.fetching = null;
      this.undoing = false;
      this.progressTimer = null;
      this.progressLast = 0;
      this.lastProgress = null;
      this.doneShown = false;

      const labels = Array.isArray(this.feed.labels) ? this.feed.labels : [];
      this.colorFor = labelColors(labels);
      this.labelBar = new LabelBar(document.getElementById("label-bar"), labels, this.colorFor);
      this.outbox = new Outbox(
        this.api,
        config.base,
        `concord:pending:${this.feed.id}:${config.userId}`,
        {
          onChange: (count) => this.showPending(count),
          onStored: (entry) => this.markStored(entry),
          onRejected: (entry, error) => this.answerRejected(entry, error),
          onRetry: (seconds) => this.showPending(this.outbox.entries.length, seconds),
        },
      );

      this.viewContext = {
        feed: this.feed,
        colorFor: this.colorFor,
        activeLabel: () => this.labelBar.current(),
        selectLabel: (position) => this.labelBar.select(position),
      };
    }

    start() {
      fillHelp(this.feed.interface);
      fillInstructions(this.feed.instructions);
      if (this.feed.interface === "ner_manual") this.labelBar.render();
      this.bindControls();
      for (const entry of this.outbox.entries) this.seen.add(entry.body.task_hash);
      this.showPending(this.outbox.entries.length);
      this.outbox.flush();
      this.advance();
      this.refreshProgress();
    }

    bindControls() {
      const click = (id, action) => document.getElementById(id).addEventListener("click", action);
      click("accept-button", () => this.answer("accept"));
      click("reject-button", () => this.answer("reject"));
      click("ignore-button", () => this.answer("ignore"));
      click("undo-button", () => this.undo());
      click("done-undo-button", () => this.undo());
      click("refresh-button", () => this.refresh());
      click("help-button", () => toggleDialog(document.getElementById("help-dialog")));
      click("instructions-button", () =>
        toggleDialog(document.getElementById("instructions-dialog")));
      document.addEventListener("keydown", (event) => this.onKeyDown(event));
      document.addEventListener("keyup", (event) => this.onKeyUp(event));
      window.addEventListener("online", () => this.outbox.flush());
    }

    // ------------------------------------------------------------ keyboard

    onKeyDown(event) {
      if (isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
      if (key === "?" || key === "i") {
        event.preventDefault();
        const id = key === "?" ? "help-dialog" : "instructions-dialog";
        toggleDialog(document.getElementById(id));
        return;
      }
      if (document.querySelector("dialog[open]")) return;
      if (this.current && this.current.view.handleKey(event)) {
        event.preventDefault();
        return;
      }
      const actions = {
        a: () => this.answer("accept"),
        x: () => this.answer("reject"),
        " ": () => this.answer("ignore"),
        Backspace: () => this.undo(),
      };
      if (!actions[key]) return;
      event.preventDefault();
      if (!event.repeat) actions[key]();
    }

    // A focused button also activates when the space bar is released. The
    // space bar already means Ignore, so that second action is suppressed.
    onKeyUp(event) {
      if (event.key !== " " || isTyping(event.target)) return;
      if (document.querySelector("dialog[open]")) return;
      event.preventDefault();
    }

    // ------------------------------------------------------------ queue

    fillQueue() {
      if (!this.fetching) {
        this.fetching = this.fetchTasks().finally(() => {
          this.fetching = null;
        });
      }
      return this.fetching;
    }

    async fetchTasks() {
      const data = await this.api.post(`${this.config.base}/next`, { count: FETCH_COUNT });
      const tasks = data && Array.isArray(data.tasks) ? data.tasks : [];
      for (const task of tasks) {
        if (this.seen.has(task._task_hash)) continue;
        this.seen.add(task._task_hash);
        this.queue.push(task);
      }
    }

    async advance() {
      if (!this.queue.length) {
        this.showLoading();
        try {
          await this.fillQueue();
        } catch (error) {
          if (error.status !== 401) this.showDone(error);
          return;
        }
        // An undo may have put a task on screen while the request ran.
        if (this.current) return;
      }
      const task = this.queue.shift();
      if (!task) {
        this.showDone(null);
        return;
      }
      this.showTask(task, null);
      this.topUp();
    }

    topUp() {
      if (this.queue.length >= QUEUE_LOW_WATER) return;
      this.fillQueue().catch((error) => {
        if (error.status !== 401) showToast(`Could not load more tasks: ${error.message}`);
      });
    }

    async refresh() {
      if (this.current) return;
      await this.advance();
      this.refreshProgress();
    }

    // ------------------------------------------------------------ screens

    showTask(task, previousAnswer) {
      if (this.current) this.current.view.detach?.();
      const View = VIEWS[this.feed.interface] || BinaryView;
      const view = new View(task, this.viewContext);
      this.current = { task, view };
      const card = document.getElementById("task-card");
      const hadFocus = card.contains(document.activeElement);
      card.replaceChildren(view.render());
      if (previousAnswer) view.restore(previousAnswer);
      // Keyboard users annotating tokens keep their place from task to task.
      const tokens = card.querySelector(".tokens");
      if (hadFocus && tokens) tokens.focus({ preventScroll: true });
      card.hidden = false;
      card.setAttribute("aria-busy", "false");
      document.getElementById("done-screen").hidden = true;
      document.getElementById("actions").hidden = false;
      this.doneShown = false;
      this.setAnswerButtons(true);
    }

    clearTask() {
      if (this.current) this.current.view.detach?.();
      this.current = null;
    }

    showLoading() {
      const card = document.getElementById("task-card");
      card.hidden = false;
      card.setAttribute("aria-busy", "true");
      card.replaceChildren(element("p", "card-message", "Loading tasks…"));
      this.setAnswerButtons(false);
    }

    async showDone(error) {
      this.clearTask();
      document.getElementById("task-card").hidden = true;
      document.getElementById("done-screen").hidden = false;
      document.getElementById("actions").hidden = true;
      const reason = document.getElementById("done-reason");
      if (error) {
        this.doneShown = false;
        reason.textContent = `Could not load tasks: ${error.message} Try Refresh.`;
        return;
      }
      this.doneShown = true;
      reason.textContent = "Checking the feed…";
      await this.refreshProgress();
    }

    setAnswerButtons(enabled) {
      for (const id of ["accept-button", "reject-button", "ignore-button"]) {
        document.getElementById(id).disabled = !enabled;
      }
    }

    // ------------------------------------------------------------ answers

    answer(kind) {
      if (!this.current) return;
      const { task, view } = this.current;
      const body = {
        answer_id: newAnswerId(),
        task_hash: task._task_hash,
        answer: kind,
        ...view.answerFields(),
      };
      const entry = { body, task };
      this.remember(entry, view.describe());
      this.clearTask();
      this.outbox.add(entry);
      this.advance();
      this.scheduleProgress();
    }

    answerRejected(entry, error) {
      this.forget(entry.body.answer_id);
      showToast(`The server rejected an answer: ${error.message} The task comes back next.`);
      if (this.current) {
        this.queue.unshift(entry.task);
      } else {
        this.showTask(entry.task, entry.body);
      }
    }

    async undo() {
      if (this.undoing) return;
      this.undoing = true;
      try {
        const local = await this.outbox.takeBackLast();
        if (local) {
          this.forget(local.body.answer_id);
          this.bringBack(local.task, local.body);
        } else {
          await this.undoOnServer();
        }
      } catch (error) {
        if (error.status !== 401) showToast(`Undo failed: ${error.message}`);
      } finally {
        this.undoing = false;
      }
      this.scheduleProgress();
    }

    async undoOnServer() {
      const data = await this.api.post(`${this.config.base}/undo`, {});
      if (!data || !data.undone) {
        showToast("Nothing to undo.");
        return;
      }
      const previous = this.forget(data.undone.answer_id);
      if (data.task) {
        this.seen.add(data.task._task_hash);
        this.bringBack(data.task, previous ? previous.body : null);
      }
    }

    // Shows `task` again and puts the task on screen back at the queue's head.
    bringBack(task, previousAnswer) {
      if (this.current) this.queue.unshift(this.current.task);
      this.queue = this.queue.filter((queued) => queued._task_hash !== task._task_hash);
      this.showTask(task, previousAnswer);
    }

    // ------------------------------------------------------------ history

    remember(entry, description) {
      this.history.unshift({ entry, description, stored: false });
      this.history.length = Math.min(this.history.length, HISTORY_SIZE);
      this.renderHistory();
    }

    forget(answerId) {
      const found = this.history.find((item) => item.entry.body.answer_id === answerId);
      this.history = this.history.filter((item) => item !== found);
      this.renderHistory();
      return found ? found.entry : null;
    }

    markStored(entry) {
      const item = this.history.find((h) => h.entry.body.answer_id === entry.body.answer_id);
      if (item) item.stored = true;
      this.renderHistory();
      this.scheduleProgress();
    }

    renderHistory() {
      const list = document.getElementById("history-list");
      list.replaceChildren(...this.history.map((item) => historyItem(item)));
      document.getElementById("history-count").textContent = `(${this.history.length})`;
    }

    showPending(count, retrySeconds) {
      const indicator = document.getElementById("pending-indicator");
      indicator.hidden = count === 0;
      if (!count) return;
      const waiting = `${plural(count, "answer")} waiting to be sent`;
      indicator.textContent = retrySeconds
        ? `${waiting}, next try in ${retrySeconds} s`
        : waiting;
    }

    // ------------------------------------------------------------ progress

    scheduleProgress() {
      if (this.progressTimer) return;
      const wait = Math.max(0, this.progressLast + PROGRESS_INTERVAL_MS - Date.now());
      this.progressTimer = window.setTimeout(() => {
        this.progressTimer = null;
        this.refreshProgress();
      }, wait);
    }

    async refreshProgress() {
      this.progressLast = Date.now();
      try {
        this.lastProgress = await this.api.get(`${this.config.base}/progress`);
      } catch (error) {
        if (error.status === 401) return;
      }
      renderProgress(this.lastProgress);
      // The reason can change as the last answers reach the server.
      if (this.doneShown) {
        document.getElementById("done-reason").textContent =
          doneReason(this.lastProgress, this.outbox.entries.length);
      }
    }
  }

  function isTyping(target) {
    if (!(target instanceof Element)) return false;
    if (target.isContentEditable) return true;
    if (target.closest("textarea, select")) return true;
    const input = target.closest("input");
    return Boolean(input) && !["button", "checkbox", "radio"].includes(input.type);
  }

  function historyItem(item) {
    const { body, task } = item.entry;
    const row = element("li", `history-item answer-${body.answer}`);
    const badge = element("span", "history-answer", body.answer);
    row.append(badge, element("span", "history-text", snippet(task)));
    if (item.description) row.append(element("span", "history-detail", item.description));
    row.append(element("span", "history-state", item.stored ? "saved" : "sending"));
    return row;
  }

  function renderProgress(progress) {
    if (!progress) return;
    const mine = progress.mine || {};
    const total = Number(progress.examples_total) || 0;
    const done = Number(progress.examples_done) || 0;
    document.getElementById("progress-text").textContent =
      `You: ${mine.answers ?? 0} answered · Feed: ${done}/${total}`;
    const share = total ? Math.min(100, (100 * done) / total) : 0;
    document.getElementById("progress-fill").style.width = `${share}%`;
  }

  function doneReason(progress, pendingCount) {
    const parts = [];
    if (!progress) {
      parts.push("The progress of the feed could not be loaded. Try Refresh.");
    } else if (!progress.examples_total) {
      parts.push("This feed has no examples yet. Check back later.");
    } else if (progress.examples_done >= progress.examples_total) {
      parts.push(`All ${progress.examples_total} examples in this feed are done.`);
    } else {
      const left = progress.examples_total - progress.examples_done;
      parts.push(
        `You have answered every task open to you. The other ${plural(left, "example")} ` +
          "wait for other annotators, or others hold leases on them. Check back later: " +
          "a lease that is not answered in time expires and frees its task.",
      );
    }
    if (pendingCount) {
      const waiting = plural(pendingCount, "answer");
      parts.push(`${waiting} still waiting to be sent: keep this page open.`);
    }
    return parts.join(" ");
  }

  document.addEventListener("DOMContentLoaded", () => {
    new AnnotationPage(readConfig()).start();
  });
})();
