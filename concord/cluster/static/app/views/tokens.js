// Selecting tokens with the mouse, touch or keyboard: the part the NER and
// span views share.
//
// Spans are kept as token index ranges and turned into code point offsets
// only from the server's token start and end, so the browser's UTF-16 string
// indices never leak into an answer.

import { element, hintLine, showToast } from "../dom.js";
import { CodePointText } from "../text.js";
import { withMeta } from "./common.js";

const DESCRIPTION_LENGTH = 120;
// A new task first paints this many tokens, more than a screen holds, and
// adds the rest after that paint, so a long document shows without waiting.
const FIRST_PAINT_TOKENS = 400;

export class TokenView {
  constructor(task, context) {
    this.task = task;
    this.context = context;
    this.text = new CodePointText(typeof task.text === "string" ? task.text : "");
    this.tokens = Array.isArray(task.tokens) ? task.tokens : [];
    this.anchor = null;
    this.cursor = null;
    this.drag = null;
    this.lastPointerType = "mouse";
    this.tokenElements = [];
    this.container = null;
    this.marked = new Set();
    this.cursorNode = null;
    this.generation = 0;
    this.spans = this.spansFromOffsets(task.spans);
  }

  get usesLabelBar() {
    return true;
  }

  spansFromOffsets(spans) {
    const result = [];
    for (const span of Array.isArray(spans) ? spans : []) {
      const range = this.tokenRange(span);
      if (!range || this.conflict(range[0], range[1], span.label, result)) continue;
      result.push({ tokenStart: range[0], tokenEnd: range[1], label: span.label });
    }
    return result.sort(compareSpans);
  }

  // Snaps a span given in code points to the tokens it touches.
  tokenRange(span) {
    if (!Number.isInteger(span.start) || !Number.isInteger(span.end)) return null;
    const first = this.firstTokenEndingAfter(span.start);
    if (first >= this.tokens.length || this.tokens[first].start >= span.end) return null;
    let last = first;
    while (last + 1 < this.tokens.length && this.tokens[last + 1].start < span.end) {
      last += 1;
    }
    return [first, last];
  }

  firstTokenEndingAfter(offset) {
    let low = 0;
    let high = this.tokens.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.tokens[middle].end > offset) high = middle;
      else low = middle + 1;
    }
    return low;
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
    this.redraw(true);
    fragment.append(this.container);
    this.renderExtras(fragment);
    fragment.append(
      hintLine([
        ["drag", "select"],
        ["dbl-click", "one word"],
        ["shift-click", "extend"],
        ["← → enter", "with the text focused"],
        ["1–9", "label"],
      ]),
    );
    return withMeta(fragment, this.task);
  }

  renderExtras() {}

  // Appends token `position` and, if `withGap`, the text after it up to the
  // next token, then returns the next position.
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

  // Renders the text again from the spans. Subclasses prepare in
  // beforeRedraw() and append tokens `from` to `to` in buildRange().
  //
  // The tokens go into a detached run that the container receives as one
  // child: Chromium recomputes the direction of a dir="auto" element for
  // every child added to it, which takes over 100 ms for a long document.
  redraw(progressive = false) {
    this.generation += 1;
    this.tokenElements = [];
    this.marked = new Set();
    this.cursorNode = null;
    this.beforeRedraw();
    const total = this.tokens.length;
    if (!total) {
      this.container.classList.add("empty");
      this.container.textContent = this.text.text || "This task has no tokens to annotate.";
      this.afterRedraw();
      return;
    }
    const cut = progressive ? this.paintCut(FIRST_PAINT_TOKENS) : total;
    const head = element("span", "token-run", this.text.slice(0, this.tokens[0].start));
    this.fillRun(head, 0, cut);
    this.container.replaceChildren(head);
    if (cut < total) this.paintRestLater(cut, this.generation);
    this.updatePreview();
    this.afterRedraw();
  }

  beforeRedraw() {}

  afterRedraw() {}

  fillRun(run, from, to) {
    this.buildRange(run, from, to);
    if (to === this.tokens.length) {
      const lastEnd = this.tokens[to - 1].end;
      run.append(this.text.slice(lastEnd, this.text.length));
    }
  }

  // Waits for the first part to be painted, then appends the rest, unless
  // the text was drawn again meanwhile.
  paintRestLater(cut, generation) {
    window.requestAnimationFrame(() => window.setTimeout(() => {
      if (generation !== this.generation) return;
      const tail = element("span", "token-run");
      this.fillRun(tail, cut, this.tokens.length);
      this.container.append(tail);
      this.updatePreview();
    }, 0));
  }

  // The first token position at or after `wanted` that no span runs across.
  paintCut(wanted) {
    let cut = Math.min(wanted, this.tokens.length);
    for (const span of [...this.spans].sort((a, b) => a.tokenStart - b.tokenStart)) {
      if (span.tokenStart < cut && span.tokenEnd >= cut) cut = span.tokenEnd + 1;
    }
    return Math.min(cut, this.tokens.length);
  }

  spanText(span) {
    return this.text.slice(this.tokens[span.tokenStart].start, this.tokens[span.tokenEnd].end);
  }

  removeButton(span) {
    const button = element("button", "span-remove", "×");
    button.type = "button";
    button.setAttribute("aria-label", `Remove ${span.label} span “${this.spanText(span)}”`);
    button.addEventListener("pointerdown", (event) => event.stopPropagation());
    button.addEventListener("click", () => {
      this.spans = this.spans.filter((item) => item !== span);
      this.redraw();
      this.context.changed();
      this.container.focus({ preventScroll: true });
    });
    return button;
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
    this.onPointerUp = () => this.finishDrag();
    document.addEventListener("pointerup", this.onPointerUp);
  }

  detach() {
    this.generation += 1;
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

  // Marks the selected tokens and the cursor, touching only the tokens whose
  // state changes: a long document has thousands of them.
  updatePreview() {
    const selection = this.selection();
    const low = selection ? Math.min(...selection) : -1;
    const high = selection ? Math.max(...selection) : -2;
    for (const position of this.marked) {
      if (position < low || position > high) {
        this.tokenElements[position]?.classList.remove("selecting");
        this.marked.delete(position);
      }
    }
    for (let position = Math.max(low, 0); position <= high; position += 1) {
      if (this.marked.has(position)) continue;
      this.tokenElements[position]?.classList.add("selecting");
      this.marked.add(position);
    }
    const cursorNode = this.cursor === null ? null : this.tokenElements[this.cursor] || null;
    if (cursorNode !== this.cursorNode) {
      this.cursorNode?.classList.remove("cursor");
      cursorNode?.classList.add("cursor");
      this.cursorNode = cursorNode;
    }
  }

  addSpan(first, last) {
    const start = Math.min(first, last);
    const end = Math.max(first, last);
    const label = this.context.activeLabel();
    if (!label) {
      showToast("Pick a label first: this feed has no labels configured.");
      return this.updatePreview();
    }
    const problem = this.conflict(start, end, label, this.spans);
    if (problem) {
      showToast(problem);
      return this.updatePreview();
    }
    this.spans.push({ tokenStart: start, tokenEnd: end, label });
    this.spans.sort(compareSpans);
    this.cursor = end;
    this.redraw();
    this.context.changed();
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
    const text = this.spans.map((span) => `${span.label}: ${this.spanText(span)}`).join(", ");
    return text.length > DESCRIPTION_LENGTH ? `${text.slice(0, DESCRIPTION_LENGTH)}…` : text;
  }
}

// Orders spans by start, longer first, then by label.
export function compareSpans(a, b) {
  if (a.tokenStart !== b.tokenStart) return a.tokenStart - b.tokenStart;
  if (a.tokenEnd !== b.tokenEnd) return b.tokenEnd - a.tokenEnd;
  if (a.label === b.label) return 0;
  return a.label < b.label ? -1 : 1;
}
