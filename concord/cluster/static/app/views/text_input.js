// A free-text answer (a correction, a translation) typed under the task.
// Its length is counted in code points, as the server counts it; the
// textarea's own maxlength counts UTF-16 units, so it is not used.

import { element, hintLine } from "../dom.js";
import { codePointLength } from "../text.js";
import { taskContent, withMeta } from "./common.js";

const DEFAULT_MAX_LENGTH = 10000;

export class TextInputView {
  constructor(task, context) {
    this.task = task;
    this.context = context;
    this.limit = Number(context.feed.max_length) || DEFAULT_MAX_LENGTH;
    this.field = null;
    this.counter = null;
  }

  render() {
    const fragment = document.createDocumentFragment();
    fragment.append(taskContent(this.task, this.context, this.task.spans));
    const block = element("div", "answer-field");
    const label = element("label", "answer-label", this.context.feed.field_label || "Your answer");
    label.htmlFor = "answer-text";
    this.field = element("textarea", "answer-text");
    this.field.id = "answer-text";
    this.field.rows = 4;
    this.field.dir = "auto";
    this.field.spellcheck = true;
    this.field.setAttribute("aria-describedby", "answer-count");
    this.field.setAttribute("aria-keyshortcuts", "Control+Enter");
    if (typeof this.task.user_input === "string") this.field.value = this.task.user_input;
    this.counter = element("p", "answer-count");
    this.counter.id = "answer-count";
    this.field.addEventListener("input", () => this.updateCounter());
    this.field.addEventListener("keydown", (event) => this.onFieldKey(event));
    block.append(label, this.field, this.counter);
    fragment.append(block);
    fragment.append(hintLine([["ctrl + enter", "accept"], ["esc", "leave the field"]]));
    this.updateCounter();
    return withMeta(fragment, this.task);
  }

  onFieldKey(event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      this.context.submit("accept");
    } else if (event.key === "Escape") {
      event.preventDefault();
      this.field.blur();
    }
  }

  length() {
    return codePointLength(this.field ? this.field.value : "");
  }

  updateCounter() {
    const length = this.length();
    const over = length > this.limit;
    this.counter.textContent = over
      ? `${length} / ${this.limit} characters: shorten the text to answer`
      : `${length} / ${this.limit} characters`;
    this.counter.classList.toggle("over", over);
    this.field.setAttribute("aria-invalid", over ? "true" : "false");
  }

  focus() {
    this.field?.focus({ preventScroll: true });
  }

  problem() {
    const length = this.length();
    if (length <= this.limit) return null;
    return `The text is ${length} characters long; this feed takes at most ${this.limit}.`;
  }

  answerFields() {
    return { user_input: this.field ? this.field.value : "" };
  }

  restore(body) {
    if (!this.field) return;
    this.field.value = typeof body.user_input === "string" ? body.user_input : "";
    this.updateCounter();
  }

  handleKey() {
    return false;
  }

  describe() {
    const text = this.field ? this.field.value.replace(/\s+/g, " ").trim() : "";
    return text.length > 60 ? `“${text.slice(0, 60)}…”` : `“${text}”`;
  }
}
